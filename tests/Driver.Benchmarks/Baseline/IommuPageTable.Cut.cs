using Driver.Kernel;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>
    /// Splits the large entry that <paramref name="iova"/> falls strictly
    /// inside, if any, so that no page crosses <paramref name="iova"/>; the
    /// pieces are as large as the format allows. Hitless: the replacement
    /// (sub-tables included) is built first where hardware cannot see it, then
    /// stored one item at a time, each store keeping that item's translation;
    /// then the old entry is flushed. Every IOVA translates to the same address
    /// before, during and after. EINVAL when <paramref name="iova"/> is not
    /// aligned to the smallest page size, ENOMEM with the table unchanged.
    /// </summary>
    public Errno Cut(ulong iova)
    {
        ulong top = ReadTop();
        if ((iova & ((1UL << PageSizes.SmallestLg2(_pageSizes)) - 1)) != 0)
            return Errno.EINVAL;
        int level = LevelOf(top);
        ulong tablePa = TableOf(top);
        ulong last = iova;
        var err = CheckRange(level, iova, ref last, out _);
        if (err != Errno.Ok)
            return err == Errno.ENOENT ? Errno.Ok : err;
        while (true)
        {
            int itemLg2 = PtGeometry.ItemLg2(level);
            int index = PtGeometry.Index(iova, level);
            ulong item = _memory.ReadU64(ItemPa(tablePa, index));
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Table:
                    // On an item boundary nothing below can cross iova.
                    if ((iova & ((1UL << itemLg2) - 1)) == 0)
                        return Errno.Ok;
                    tablePa = TFormat.TablePa(item);
                    level--;
                    continue;
                case PtEntryType.Leaf:
                    int sizeLg2 = TFormat.LeafSizeLg2(item, level);
                    ulong entryVa = iova & ~((1UL << sizeLg2) - 1);
                    if (entryVa == iova)
                        return Errno.Ok;
                    int count = 1 << (sizeLg2 - itemLg2);
                    return SplitEntry(level, tablePa, index & ~(count - 1), entryVa, item, iova);
                default:
                    return Errno.Ok;
            }
        }
    }

    private Errno SplitEntry(int level, ulong tablePa, int firstIndex, ulong entryVa, ulong item, ulong cut)
    {
        int sizeLg2 = TFormat.LeafSizeLg2(item, level);
        Span<ulong> items = stackalloc ulong[1 << (sizeLg2 - PtGeometry.ItemLg2(level))];
        var built = new List<ulong>();
        var err = FillSplit(level, entryVa, TFormat.LeafOa(item, level), TFormat.LeafAttrs(item), cut, items, built);
        if (err != Errno.Ok)
        {
            // Never visible to hardware: free at once.
            FreeFrames(built);
            return err;
        }
        for (int i = 0; i < items.Length; i++)
            _memory.WriteU64(ItemPa(tablePa, firstIndex + i), items[i]);
        // The IOTLB may still hold the old entry, which crosses iova.
        var gather = new IotlbGather();
        gather.AddRange(entryVa, 1UL << sizeLg2);
        IotlbSync(gather);
        return Errno.Ok;
    }

    /// <summary>
    /// Fills <paramref name="items"/> (at <paramref name="level"/>, from
    /// <paramref name="va"/>) with leaves translating linearly from
    /// <paramref name="oa"/>, none crossing <paramref name="cut"/>, and with new
    /// tables where no leaf fits.
    /// </summary>
    private Errno FillSplit(int level, ulong va, ulong oa, ulong attrs, ulong cut, Span<ulong> items, List<ulong> built)
    {
        int itemLg2 = PtGeometry.ItemLg2(level);
        ulong sizes = TFormat.PossibleSizes(level) & _pageSizes;
        for (int i = 0; i < items.Length;)
        {
            ulong itemVa = va + ((ulong)i << itemLg2);
            ulong itemOa = oa + ((ulong)i << itemLg2);
            int lg2 = PickSplitSize(sizes, itemLg2, itemVa, itemOa, items.Length - i, cut);
            if (lg2 != 0)
            {
                int count = 1 << (lg2 - itemLg2);
                items.Slice(i, count).Fill(TFormat.MakeLeaf(itemOa, lg2, level, attrs));
                i += count;
                continue;
            }
            if (level == 0)
                throw new InvalidOperationException($"BUG: no page size can map 0x{itemVa:x} around a cut at 0x{cut:x}");
            var err = BuildSplitTable(level - 1, itemVa, itemOa, attrs, cut, built, out ulong child);
            if (err != Errno.Ok)
                return err;
            items[i] = TFormat.MakeTable(child, level);
            i++;
        }
        return Errno.Ok;
    }

    private Errno BuildSplitTable(int level, ulong va, ulong oa, ulong attrs, ulong cut, List<ulong> built,
        out ulong tablePa)
    {
        if (!_allocator.TryAlloc(out tablePa))
            return Errno.ENOMEM;
        built.Add(tablePa);
        Span<ulong> items = stackalloc ulong[PtGeometry.ItemsPerTable];
        var err = FillSplit(level, va, oa, attrs, cut, items, built);
        if (err == Errno.Ok)
            _memory.Write(tablePa, MemoryMarshal.AsBytes(items));
        return err;
    }

    // The largest size that starts here, is aligned on both sides, fits and does not cross the cut.
    private static int PickSplitSize(ulong sizes, int itemLg2, ulong va, ulong oa, int itemsLeft, ulong cut)
    {
        while (sizes != 0)
        {
            int lg2 = BitOperations.Log2(sizes);
            sizes &= ~(1UL << lg2);
            ulong size = 1UL << lg2;
            if (((va | oa) & (size - 1)) == 0 && 1 << (lg2 - itemLg2) <= itemsLeft && (cut <= va || cut - va >= size))
                return lg2;
        }
        return 0;
    }
}
