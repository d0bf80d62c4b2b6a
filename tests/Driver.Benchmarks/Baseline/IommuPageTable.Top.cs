using Driver.Kernel;
namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>
    /// Adds levels on top until va..last fits and a leaf at
    /// <paramref name="leafLevel"/> has a table to live in. The new tops are
    /// built privately with the old top at index 0, then published under the
    /// lock after hardware is re-pointed; a racing grower makes us start over.
    /// </summary>
    private Errno GrowTop(ulong va, ulong last, int leafLevel, out ulong top)
    {
        while (true)
        {
            top = Volatile.Read(ref _top);
            int level = LevelOf(top);
            if (Covers(level, va, last) && leafLevel <= level)
                return Errno.Ok;
            if (!_dynamicTop)
                return Errno.ERANGE;
            var err = IncreaseTop(top, va, last, leafLevel);
            if (err != Errno.Ok && err != Errno.EAGAIN)
                return err;
        }
    }

    private Errno IncreaseTop(ulong oldTop, ulong va, ulong last, int leafLevel)
    {
        int level = LevelOf(oldTop);
        ulong tablePa = TableOf(oldTop);
        var built = new List<ulong>();
        while (!Covers(level, va, last) || leafLevel > level)
        {
            level++;
            if (level > TFormat.MaxTopLevel || PtGeometry.ItemLg2(level) >= _vaBits)
            {
                FreeFrames(built);
                return Errno.ERANGE;
            }
            if (!_allocator.TryAlloc(out ulong newTop))
            {
                FreeFrames(built);
                return Errno.ENOMEM;
            }
            built.Add(newTop);
            _memory.WriteU64(newTop, TFormat.MakeTable(tablePa, level));
            tablePa = newTop;
        }

        lock (_topLock)
        {
            if (Volatile.Read(ref _top) != oldTop)
            {
                FreeFrames(built);
                return Errno.EAGAIN;
            }
            _driver.ChangeTop(tablePa, level);
            Volatile.Write(ref _top, tablePa | (uint)level);
        }
        return Errno.Ok;
    }
}
