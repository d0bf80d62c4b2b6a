using Driver.Kernel;
using System.Numerics;

namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    // What one item translates, for deciding whether a run of items can become one leaf.
    private struct MergeItem
    {
        public bool Uniform;
        public ulong Oa;
        public ulong Attrs;
        public ulong HardwareBits;
        public int EntryLg2; // -1 for a table
    }

    /// <summary>
    /// The reverse of <see cref="Cut"/>: inside iova..iova+length-1, replaces
    /// runs of leaves (and tables holding nothing else) that translate
    /// linearly with the same attributes by the largest leaves the format
    /// allows, bottom up. Hitless: each item store keeps that item's
    /// translation; replaced tables are freed after the flush. Accessed and
    /// dirty bits are ORed into the new leaf.
    /// </summary>
    public Errno Merge(ulong iova, ulong length)
    {
        ulong top = ReadTop();
        var err = MakeRange(iova, length, out ulong last);
        if (err != Errno.Ok)
            return err;
        if (((iova | length) & ((1UL << PageSizes.SmallestLg2(_pageSizes)) - 1)) != 0)
            return Errno.EINVAL;
        err = CheckRange(LevelOf(top), iova, ref last, out _);
        if (err != Errno.Ok)
            return err == Errno.ENOENT ? Errno.Ok : err;
        var gather = new IotlbGather();
        MergeLevel(LevelOf(top), TableOf(top), iova, last, gather, out _);
        if (!gather.IsEmpty)
            IotlbSync(gather);
        return Errno.Ok;
    }

    /// <summary>Merges inside va..last; true when the whole table is now one uniform linear run, described by <paramref name="whole"/>.</summary>
    private bool MergeLevel(int level, ulong tablePa, ulong va, ulong last, IotlbGather gather, out MergeItem whole)
    {
        whole = default;
        int itemLg2 = PtGeometry.ItemLg2(level);
        ulong itemMask = (1UL << itemLg2) - 1;
        int first = PtGeometry.Index(va, level);
        int end = PtGeometry.Index(last, level);
        ulong tableBase = TableBase(va, level);
        var items = new MergeItem[end - first + 1];
        for (int i = 0; i < items.Length; i++)
        {
            ulong itemVa = tableBase + ((ulong)(first + i) << itemLg2);
            bool covered = itemVa >= va && itemVa + itemMask <= last;
            ulong item = _memory.ReadU64(ItemPa(tablePa, first + i));
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Leaf:
                    int sizeLg2 = TFormat.LeafSizeLg2(item, level);
                    ulong attrs = TFormat.LeafAttrs(item);
                    items[i] = new MergeItem
                    {
                        Uniform = covered,
                        Oa = TFormat.LeafOa(item, level) + (itemVa & ((1UL << sizeLg2) - 1)),
                        Attrs = attrs & ~TFormat.HardwareBits,
                        HardwareBits = attrs & TFormat.HardwareBits,
                        EntryLg2 = sizeLg2,
                    };
                    break;
                case PtEntryType.Table:
                    bool uniform = MergeLevel(level - 1, TFormat.TablePa(item), Math.Max(va, itemVa),
                        Math.Min(last, itemVa + itemMask), gather, out var child);
                    items[i] = child;
                    items[i].Uniform = covered && uniform;
                    items[i].EntryLg2 = -1;
                    break;
            }
        }

        ulong sizes = TFormat.PossibleSizes(level) & _pageSizes;
        for (int i = 0; i < items.Length;)
        {
            int lg2 = items[i].Uniform ? PickMergeSize(items, i, first, sizes, itemLg2) : 0;
            if (lg2 == 0)
            {
                i++;
                continue;
            }
            int count = 1 << (lg2 - itemLg2);
            ulong hardwareBits = 0;
            for (int j = i; j < i + count; j++)
                hardwareBits |= items[j].HardwareBits;
            ulong leaf = TFormat.MakeLeaf(items[i].Oa, lg2, level, items[i].Attrs | hardwareBits);
            var frames = new List<ulong>();
            for (int j = i; j < i + count; j++)
            {
                ulong itemPa = ItemPa(tablePa, first + j);
                ulong old = _memory.ReadU64(itemPa);
                if (TFormat.Classify(old, level) == PtEntryType.Table)
                    CollectTables(level - 1, TFormat.TablePa(old), frames, checkMapped: false);
                _memory.WriteU64(itemPa, leaf);
            }
            GatherRange(gather, tableBase + ((ulong)(first + i) << itemLg2), 1UL << lg2, frames);
            i += count;
        }

        if (items.Length != PtGeometry.ItemsPerTable || !IsRun(items, 0, items.Length, itemLg2))
            return false;
        whole = items[0];
        for (int i = 1; i < items.Length; i++)
            whole.HardwareBits |= items[i].HardwareBits;
        return true;
    }

    // The largest leaf size that can replace items[i..] with a strictly larger entry; 0 for none.
    private static int PickMergeSize(MergeItem[] items, int i, int first, ulong sizes, int itemLg2)
    {
        while (sizes != 0)
        {
            int lg2 = BitOperations.Log2(sizes);
            sizes &= ~(1UL << lg2);
            if (items[i].EntryLg2 >= lg2)
                return 0;
            int count = 1 << (lg2 - itemLg2);
            if (((first + i) & (count - 1)) == 0 && i + count <= items.Length
                && (items[i].Oa & ((1UL << lg2) - 1)) == 0 && IsRun(items, i, count, itemLg2))
                return lg2;
        }
        return 0;
    }

    // Uniform items whose output addresses follow on from items[start] with the same attributes.
    private static bool IsRun(MergeItem[] items, int start, int count, int itemLg2)
    {
        for (int j = start; j < start + count; j++)
        {
            if (!items[j].Uniform || items[j].Attrs != items[start].Attrs
                || items[j].Oa != items[start].Oa + ((ulong)(j - start) << itemLg2))
                return false;
        }
        return true;
    }
}
