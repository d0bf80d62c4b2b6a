using System.Runtime.CompilerServices;

namespace Driver.Kernel.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>
    /// Maps pgsize * pgcount bytes at <paramref name="iova"/> to <paramref name="paddr"/>,
    /// with ONE page size for the whole call: the largest the domain offers
    /// that fits the length and to which both addresses are aligned. Missing
    /// tables are installed with compare-and-swap. Returns EADDRINUSE on an
    /// existing translation, with <paramref name="mapped"/> saying how far it got.
    /// </summary>
    public Errno MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped)
    {
        mapped = 0;
        ulong top = ReadTop();
        if ((prot & (IommuProt.Read | IommuProt.Write)) == 0 || pgsize == 0 || pgcount == 0)
            return Errno.EINVAL;
        if (Math.BigMul(pgsize, pgcount, out ulong length) != 0)
            return Errno.EOVERFLOW;
        var err = MakeRange(iova, length, out ulong last);
        if (err != Errno.Ok)
            return err;
        ulong lastOa = paddr + (length - 1);
        if (lastOa < paddr || (lastOa >> _oaBits) != 0)
            return Errno.ERANGE;
        // One size must tile the whole length, so it also divides the length.
        int leafLg2 = PageSizes.BestLg2(_pageSizes, iova, last, paddr | length);
        if (leafLg2 == 0)
            return Errno.ENXIO;
        int leafLevel = PtGeometry.LevelOfSize(leafLg2);
        if (!Covers(LevelOf(top), iova, last) || leafLevel > LevelOf(top))
        {
            err = GrowTop(iova, last, leafLevel, out top);
            if (err != Errno.Ok)
                return err;
        }

        ulong attrs = TFormat.AttrsFromProt(prot);
        // One leaf of one item under tables that exist, the common single-page map: no run, no table to install.
        if (length == 1UL << leafLg2 && leafLg2 == PtGeometry.ItemLg2(leafLevel))
        {
            var state = new PtState<TFormat>(_memory, TableOf(top), LevelOf(top), iova, last);
            if (PtWalk<TFormat>.DescendTo(ref state, leafLevel) && state.Type == PtEntryType.Empty)
            {
                _memory.WriteU64(state.ItemPa, TFormat.MakeLeaf(paddr, leafLg2, leafLevel, attrs));
                mapped = length;
                return Errno.Ok;
            }
        }

        return MapRange(top, iova, last, paddr, attrs, leafLg2, out mapped);
    }

    // The walk of every other map, apart so that the single-page map above keeps a small frame.
    private Errno MapRange(ulong top, ulong iova, ulong last, ulong paddr, ulong attrs, int leafLg2, out ulong mapped)
    {
        var op = new MapOp
        {
            Table = this,
            Oa = paddr,
            Attrs = attrs,
            LeafLg2 = leafLg2,
            LeafLevel = PtGeometry.LevelOfSize(leafLg2),
        };
        PtWalk<TFormat>.Range(ref op, _memory, TableOf(top), LevelOf(top), iova, last);
        if (op.Error == Errno.ENOMEM)
            Log.MapNoMemory(_logger, iova, last - iova + 1);

        // Empty tables replaced by large leaves may be cached as walks: flush before freeing.
        if (op.Gather is { IsEmpty: false })
            IotlbSync(op.Gather);
        mapped = op.Oa - paddr;
        return op.Error;
    }

    private struct MapOp : IPtLevelOp<TFormat>
    {
        public IommuPageTable<TFormat> Table;
        public ulong Oa;
        public ulong Attrs;
        public int LeafLg2;
        public int LeafLevel;
        public IotlbGather? Gather;
        public Errno Error;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public PtStep Visit(ref PtState<TFormat> state)
        {
            if (state.Level == LeafLevel)
                return MapLeaves(ref state) ? PtStep.Next : PtStep.Stop;
            if (state.Type != PtEntryType.Table && !InstallTable(ref state))
                return PtStep.Stop;
            return PtStep.Descend;
        }

        public readonly bool Ascend(ref PtState<TFormat> state) => true;

        // Puts a new table where the item is empty; a table another thread installed first will do too.
        private bool InstallTable(ref PtState<TFormat> state)
        {
            while (state.Type != PtEntryType.Table)
            {
                if (state.Type == PtEntryType.Leaf)
                    return Stop(Errno.EADDRINUSE);
                if (!Table._allocator.TryAlloc(out ulong newTable))
                    return Stop(Errno.ENOMEM);
                ulong desired = TFormat.MakeTable(newTable, state.Level);
                ulong seen = state.Memory.CompareExchangeU64(state.ItemPa, desired, state.Item);
                if (seen == state.Item)
                {
                    state.Reload(desired);
                    return true;
                }
                // Another thread installed a table here first: ours was never visible.
                Table.LostInstall(newTable, state.Level);
                state.Reload(seen);
            }
            return true;
        }

        // One leaf of one item, the loaded one: the common single-page map, without the run machinery.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool MapLeaves(ref PtState<TFormat> state)
        {
            if (state.EndIndex != state.Index || LeafLg2 != state.ItemLg2 || state.Type != PtEntryType.Empty)
                return MapLeafRun(ref state);
            state.Memory.WriteU64(state.ItemPa, TFormat.MakeLeaf(Oa, LeafLg2, state.Level, Attrs));
            Oa += 1UL << LeafLg2;
            return true;
        }

        // Writes runs of leaves inside one table: the point of the library.
        private bool MapLeafRun(ref PtState<TFormat> state)
        {
            int level = state.Level;
            int leafLg2 = LeafLg2;
            int step = 1 << (leafLg2 - state.ItemLg2);
            ulong size = 1UL << leafLg2;
            int index = state.Index;
            int end = state.EndIndex;
            ulong va = state.Va;
            ulong firstOa = Oa;
            ulong oa = firstOa;
            ulong leaf = TFormat.MakeLeaf(oa, leafLg2, level, Attrs);
            // Leaves are linear in the output address: the next one is one addition away.
            ulong leafStep = TFormat.MakeLeaf(size, leafLg2, level, 0) - TFormat.MakeLeaf(0, leafLg2, level, 0);
            var err = Errno.Ok;
            // The items are read in bursts, which hold whole entries: a range only starts on an entry.
            var burst = default(PtBurst);
            while (index <= end && err == Errno.Ok)
            {
                Span<ulong> items = burst[..Math.Min(PtBurst.Length, end - index + 1)];
                // A run of one item is loaded already.
                if (end == state.Index)
                    items[0] = state.Item;
                else
                    state.ReadItems(index, items);
                // Into empty items, the common case, the leaves are only stores.
                int first = step == 1
                    ? state.StoreOneItemLeavesWhileEmpty(index, items, leaf, leafStep)
                    : state.StoreWhileEmpty(index, items, step, leaf, leafStep);
                leaf += (ulong)(first / step) * leafStep;
                oa += (ulong)(first / step) << leafLg2;
                for (; first < items.Length; first += step)
                {
                    if (!AllEmpty(items.Slice(first, step), level))
                    {
                        err = ClearForLeaf(ref state, state.PaOf(index + first), step, va + (oa - firstOa));
                        if (err != Errno.Ok)
                            break;
                    }
                    state.Store(index + first, step, leaf);
                    leaf += leafStep;
                    oa += size;
                }
                index += items.Length;
            }
            Oa = oa;
            state.NextIndex = end + 1;
            return err == Errno.Ok || Stop(err);
        }

        private static bool AllEmpty(ReadOnlySpan<ulong> items, int level)
        {
            foreach (ulong item in items)
            {
                if (TFormat.Classify(item, level) != PtEntryType.Empty)
                    return false;
            }
            return true;
        }

        /// <summary>
        /// Makes <paramref name="count"/> items ready for a new leaf: empty items
        /// stay, tables holding no translation are unhooked and freed through the
        /// gather (a walk cache may still point at them), anything mapped is EADDRINUSE.
        /// </summary>
        private Errno ClearForLeaf(ref PtState<TFormat> state, ulong firstItemPa, int count, ulong firstItemVa)
        {
            int level = state.Level;
            ulong itemSize = 1UL << state.ItemLg2;
            for (int i = 0; i < count; i++)
            {
                ulong itemPa = firstItemPa + ((ulong)i * PtGeometry.ItemBytes);
                ulong item = state.Memory.ReadU64(itemPa);
                var type = TFormat.Classify(item, level);
                if (type == PtEntryType.Empty)
                    continue;
                if (type == PtEntryType.Leaf)
                    return Errno.EADDRINUSE;
                ulong itemVa = firstItemVa + ((ulong)i * itemSize);
                var frames = new List<ulong>();
                if (!Table.CollectTables(level - 1, TFormat.TablePa(item), itemVa, frames, checkMapped: true))
                    return Errno.EADDRINUSE;
                state.Memory.WriteU64(itemPa, 0);
                Gather ??= new IotlbGather();
                Table.GatherRange(Gather, itemVa, itemSize, frames);
            }
            return Errno.Ok;
        }

        private bool Stop(Errno err)
        {
            Error = err;
            return false;
        }
    }
}
