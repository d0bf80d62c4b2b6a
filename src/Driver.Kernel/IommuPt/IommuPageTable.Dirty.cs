using Driver.Hw.Interfaces;

namespace Driver.Kernel.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>
    /// Marks in <paramref name="bitmap"/> every page of iova..iova+length-1
    /// that a write-dirty leaf covers and, unless <see cref="DirtyFlags.NoClear"/>,
    /// cleans those leaves and gathers them for the flush that makes the
    /// IOMMU set the bit again on the next write.
    /// </summary>
    public Errno ReadAndClearDirty(ulong iova, ulong length, DirtyFlags flags, IovaBitmap bitmap, IotlbGather gather)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        ArgumentNullException.ThrowIfNull(gather);
        ulong top = ReadTop();
        var err = MakeRange(iova, length, out ulong last);
        if (err != Errno.Ok)
            return err;
        err = CheckRange(LevelOf(top), iova, ref last, out _);
        if (err != Errno.Ok)
            return err == Errno.ENOENT ? Errno.Ok : err;
        var op = new DirtyOp { Clear = (flags & DirtyFlags.NoClear) == 0, Bitmap = bitmap, Gather = gather };
        PtWalk<TFormat>.Range(ref op, _memory, TableOf(top), LevelOf(top), iova, last);
        return Errno.Ok;
    }

    private struct DirtyOp : IPtLevelOp<TFormat>
    {
        public bool Clear;
        public IovaBitmap Bitmap;
        public IotlbGather Gather;

        public readonly PtStep Visit(ref PtState<TFormat> state)
        {
            if (state.Type == PtEntryType.Table)
                return PtStep.Descend;
            if (state.Type != PtEntryType.Leaf)
                return PtStep.Next;
            int firstIndex = state.EntryIndex;
            int count = state.EntryItems;
            if (state.AnyDirty(firstIndex, count))
            {
                ulong entryVa = state.VaOf(firstIndex);
                ulong start = Math.Max(state.Va, entryVa);
                ulong length = Math.Min(state.Last, entryVa + ((1UL << state.EntryLg2) - 1)) - start + 1;
                Bitmap.Set(start, length);
                if (Clear)
                {
                    for (int i = 0; i < count; i++)
                        ClearDirtyBit(state.Memory, state.PaOf(firstIndex + i));
                    Gather.AddRange(start, length);
                }
            }
            state.SkipEntry();
            return PtStep.Next;
        }

        public readonly bool Ascend(ref PtState<TFormat> state) => true;
    }

    // Hardware may set A or D at any moment: clear D without losing its update.
    private static void ClearDirtyBit(IPhysicalMemory memory, ulong itemPa)
    {
        ulong item = memory.ReadU64(itemPa);
        while ((item & TFormat.DirtyBit) != 0)
        {
            ulong seen = memory.CompareExchangeU64(itemPa, item & ~TFormat.DirtyBit, item);
            if (seen == item)
                return;
            item = seen;
        }
    }
}
