namespace Driver.Kernel.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
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
        var op = new UnmapOp();
        PtWalk<TFormat>.Range(ref op, _memory, TableOf(top), LevelOf(top), iova, last);
        err = op.Error;
        // Past the top nothing is mapped: a hole.
        if (err == Errno.Ok && clamped)
            err = Errno.ENOENT;
        unmapped = op.Unmapped;
        // What was removed is exactly iova..iova+unmapped-1: entries start at iova and leave no gaps.
        if (unmapped != 0)
            GatherRange(gather, iova, unmapped, op.Freed);
        return err;
    }

    private struct UnmapOp : IPtLevelOp<TFormat>
    {
        public ulong Unmapped;
        public List<ulong>? Freed;
        public Errno Error;

        public PtStep Visit(ref PtState<TFormat> state)
        {
            switch (state.Type)
            {
                case PtEntryType.Leaf:
                    // Only the first item can start mid-entry: the rest follow whole entries.
                    if (state.Index == state.FirstIndex && (state.Va & ((1UL << state.EntryLg2) - 1)) != 0)
                        return Stop(Errno.EINVAL);
                    ClearLeaves(ref state);
                    return PtStep.Next;
                case PtEntryType.Table:
                    // A table the range covers whole is unhooked on the way back up.
                    return state.CoversItem ? PtStep.DescendThenAscend : PtStep.Descend;
                default:
                    return Stop(Errno.ENOENT);
            }
        }

        // Unhook a table the range covered whole; free it after the flush.
        public bool Ascend(ref PtState<TFormat> state)
        {
            state.Store(state.Index, 1, 0);
            (Freed ??= []).Add(state.ChildTablePa);
            return true;
        }

        // Clears the run of leaves from the loaded one up to the end of the range in this table or the
        // next item that is not a leaf, which the walk visits next. Whole entries only, as they start in range.
        private void ClearLeaves(ref PtState<TFormat> state)
        {
            int next = ClearEntry(ref state, state.Index, state.Item);
            if (next <= state.EndIndex)
                next = ClearMoreLeaves(ref state, next);
            state.NextIndex = next;
        }

        // The items after the first entry are read in bursts (nobody else writes them).
        private int ClearMoreLeaves(ref PtState<TFormat> state, int index)
        {
            int end = state.EndIndex;
            int level = state.Level;
            int itemLg2 = state.ItemLg2;
            ulong unmapped = 0;
            var burst = default(PtBurst);
            int burstFirst = index;
            int burstCount = 0;
            while (index <= end)
            {
                if (index - burstFirst >= burstCount)
                {
                    burstFirst = index;
                    burstCount = Math.Min(PtBurst.Length, end - index + 1);
                    state.ReadItems(index, burst[..burstCount]);
                }
                // Leaves of one item, the common case: one store each.
                int cleared = state.ClearWhileOneItemLeaves(index, burst[(index - burstFirst)..burstCount]);
                index += cleared;
                unmapped += (ulong)cleared << itemLg2;
                if (index - burstFirst < burstCount)
                {
                    ulong item = burst[index - burstFirst];
                    if (TFormat.Classify(item, level) != PtEntryType.Leaf)
                        break;
                    index = ClearEntry(ref state, index, item);
                }
            }
            Unmapped += unmapped;
            return index;
        }

        // Clears the whole entry whose first item is at index; returns the index after it.
        private int ClearEntry(ref PtState<TFormat> state, int index, ulong item)
        {
            int sizeLg2 = TFormat.LeafSizeLg2(item, state.Level);
            int count = 1 << (sizeLg2 - state.ItemLg2);
            state.Store(index, count, 0);
            Unmapped += 1UL << sizeLg2;
            return index + count;
        }

        private PtStep Stop(Errno err)
        {
            Error = err;
            return PtStep.Stop;
        }
    }
}
