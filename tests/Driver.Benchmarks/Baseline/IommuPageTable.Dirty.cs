using Driver.Kernel;
namespace Driver.Benchmarks.Baseline.IommuPt;

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
        DirtyLevel(LevelOf(top), TableOf(top), iova, last, (flags & DirtyFlags.NoClear) == 0, bitmap, gather);
        return Errno.Ok;
    }

    private void DirtyLevel(int level, ulong tablePa, ulong va, ulong last, bool clear, IovaBitmap bitmap,
        IotlbGather gather)
    {
        int itemLg2 = PtGeometry.ItemLg2(level);
        ulong tableBase = TableBase(va, level);
        int end = PtGeometry.Index(last, level);
        for (int index = PtGeometry.Index(va, level); index <= end;)
        {
            ulong item = _memory.ReadU64(ItemPa(tablePa, index));
            ulong itemVa = tableBase + ((ulong)index << itemLg2);
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Table:
                    DirtyLevel(level - 1, TFormat.TablePa(item), Math.Max(va, itemVa),
                        Math.Min(last, itemVa + ((1UL << itemLg2) - 1)), clear, bitmap, gather);
                    index++;
                    break;
                case PtEntryType.Leaf:
                    int sizeLg2 = TFormat.LeafSizeLg2(item, level);
                    int count = 1 << (sizeLg2 - itemLg2);
                    int firstIndex = index & ~(count - 1);
                    if (AnyDirty(tablePa, firstIndex, count))
                    {
                        ulong entryVa = tableBase + ((ulong)firstIndex << itemLg2);
                        ulong start = Math.Max(va, entryVa);
                        ulong length = Math.Min(last, entryVa + ((1UL << sizeLg2) - 1)) - start + 1;
                        bitmap.Set(start, length);
                        if (clear)
                        {
                            for (int i = 0; i < count; i++)
                                ClearDirtyBit(ItemPa(tablePa, firstIndex + i));
                            gather.AddRange(start, length);
                        }
                    }
                    index = firstIndex + count;
                    break;
                default:
                    index++;
                    break;
            }
        }
    }

    // Hardware may set A or D at any moment: clear D without losing its update.
    private void ClearDirtyBit(ulong itemPa)
    {
        ulong item = _memory.ReadU64(itemPa);
        while ((item & TFormat.DirtyBit) != 0)
        {
            ulong seen = _memory.CompareExchangeU64(itemPa, item & ~TFormat.DirtyBit, item);
            if (seen == item)
                return;
            item = seen;
        }
    }
}
