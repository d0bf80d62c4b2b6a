using Driver.Kernel;
namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    private struct UnmapArgs
    {
        public ulong Unmapped;
        public List<ulong>? Freed;
    }

    /// <summary>
    /// Removes the translations of <paramref name="length"/> bytes at
    /// <paramref name="iova"/>. Never splits: a range that starts inside a
    /// large entry is EINVAL; a range that ends inside one removes all of it,
    /// and <paramref name="unmapped"/> says so. Stops at the first hole
    /// (ENOENT), which is also what lies beyond the current top. Tables the range covers are freed only by the
    /// <see cref="IotlbSync"/> of <paramref name="gather"/>.
    /// </summary>
    public Errno UnmapPages(ulong iova, ulong length, IotlbGather gather, out ulong unmapped)
    {
        ArgumentNullException.ThrowIfNull(gather);
        unmapped = 0;
        ulong top = ReadTop();
        var err = MakeRange(iova, length, out ulong last);
        if (err != Errno.Ok)
            return err;
        err = CheckRange(LevelOf(top), iova, ref last, out bool clamped);
        if (err != Errno.Ok)
            return err;
        var args = new UnmapArgs();
        err = UnmapLevel(LevelOf(top), TableOf(top), iova, last, ref args);
        // Past the top nothing is mapped: a hole.
        if (err == Errno.Ok && clamped)
            err = Errno.ENOENT;
        unmapped = args.Unmapped;
        // What was removed is exactly iova..iova+unmapped-1: entries start at iova and leave no gaps.
        if (unmapped != 0)
            GatherRange(gather, iova, unmapped, args.Freed);
        return err;
    }

    private Errno UnmapLevel(int level, ulong tablePa, ulong va, ulong last, ref UnmapArgs args)
    {
        int itemLg2 = PtGeometry.ItemLg2(level);
        ulong itemMask = (1UL << itemLg2) - 1;
        int index = PtGeometry.Index(va, level);
        int end = PtGeometry.Index(last, level);
        ulong tableBase = TableBase(va, level);
        bool first = true;
        while (true)
        {
            ulong itemPa = ItemPa(tablePa, index);
            ulong item = _memory.ReadU64(itemPa);
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Leaf:
                    int sizeLg2 = TFormat.LeafSizeLg2(item, level);
                    // Only the first item can start mid-entry: the rest follow whole entries.
                    if (first && (va & ((1UL << sizeLg2) - 1)) != 0)
                        return Errno.EINVAL;
                    int count = 1 << (sizeLg2 - itemLg2);
                    for (int i = 0; i < count; i++)
                        _memory.WriteU64(ItemPa(tablePa, index + i), 0);
                    args.Unmapped += 1UL << sizeLg2;
                    index += count;
                    break;
                case PtEntryType.Table:
                    ulong itemVa = tableBase + ((ulong)index << itemLg2);
                    ulong childVa = Math.Max(va, itemVa);
                    ulong childLast = Math.Min(last, itemVa + itemMask);
                    ulong childTable = TFormat.TablePa(item);
                    var err = UnmapLevel(level - 1, childTable, childVa, childLast, ref args);
                    if (err != Errno.Ok)
                        return err;
                    // Unhook a table the range covers whole; free it after the flush.
                    if (childVa == itemVa && childLast == itemVa + itemMask)
                    {
                        _memory.WriteU64(itemPa, 0);
                        (args.Freed ??= []).Add(childTable);
                    }
                    index++;
                    break;
                default:
                    return Errno.ENOENT;
            }
            if (index > end)
                return Errno.Ok;
            first = false;
        }
    }
}
