using System.Numerics;

namespace Driver.Kernel.IommuPt;

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
        public ulong ChildTablePa;
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
        int first = PtGeometry.Index(va, level);
        ulong firstItemVa = va & ~((1UL << itemLg2) - 1);
        var op = new MergeOp { Table = this, Gather = gather, Items = new MergeItem[PtGeometry.Index(last, level) - first + 1] };
        PtWalk<TFormat>.Range(ref op, _memory, tablePa, level, va, last);
        var items = op.Items;

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
                if (items[j].EntryLg2 < 0)
                    CollectTables(level - 1, items[j].ChildTablePa, firstItemVa + ((ulong)j << itemLg2), frames, checkMapped: false);
                _memory.WriteU64(ItemPa(tablePa, first + j), leaf);
            }
            GatherRange(gather, firstItemVa + ((ulong)i << itemLg2), 1UL << lg2, frames);
            i += count;
        }

        if (items.Length != PtGeometry.ItemsPerTable || !IsRun(items, 0, items.Length, itemLg2))
            return false;
        whole = items[0];
        for (int i = 1; i < items.Length; i++)
            whole.HardwareBits |= items[i].HardwareBits;
        return true;
    }

    // Records what each item translates; tables are merged first, bottom up.
    private struct MergeOp : IPtLevelOp<TFormat>
    {
        public IommuPageTable<TFormat> Table;
        public IotlbGather Gather;
        public MergeItem[] Items;

        public readonly bool Ascend(ref PtState<TFormat> state) => true;

        public PtStep Visit(ref PtState<TFormat> state)
        {
            ref var slot = ref Items[state.Index - state.FirstIndex];
            ulong itemVa = state.ItemVa;
            if (state.Type == PtEntryType.Leaf)
            {
                int sizeLg2 = state.EntryLg2;
                ulong attrs = TFormat.LeafAttrs(state.Item);
                slot = new MergeItem
                {
                    Uniform = state.CoversItem,
                    Oa = TFormat.LeafOa(state.Item, state.Level) + (itemVa & ((1UL << sizeLg2) - 1)),
                    Attrs = attrs & ~TFormat.HardwareBits,
                    HardwareBits = attrs & TFormat.HardwareBits,
                    EntryLg2 = sizeLg2,
                };
            }
            else if (state.Type == PtEntryType.Table)
            {
                bool uniform = Table.MergeLevel(state.Level - 1, state.ChildTablePa, state.ChildVa, state.ChildLast, Gather,
                    out slot);
                slot.Uniform = state.CoversItem && uniform;
                slot.EntryLg2 = -1;
                slot.ChildTablePa = state.ChildTablePa;
            }
            return PtStep.Next;
        }
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
