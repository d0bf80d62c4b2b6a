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

        public bool Visit(ref PtState<TFormat> state)
        {
            switch (state.Type)
            {
                case PtEntryType.Leaf:
                    int sizeLg2 = state.EntryLg2;
                    // Only the first item can start mid-entry: the rest follow whole entries.
                    if (state.Index == state.FirstIndex && (state.Va & ((1UL << sizeLg2) - 1)) != 0)
                        return Stop(Errno.EINVAL);
                    int count = state.EntryItems;
                    state.Store(state.Index, count, 0);
                    Unmapped += 1UL << sizeLg2;
                    state.NextIndex = state.Index + count;
                    return true;
                case PtEntryType.Table:
                    if (!PtWalk<TFormat>.Descend(ref this, ref state))
                        return false;
                    // Unhook a table the range covers whole; free it after the flush.
                    if (state.CoversItem)
                    {
                        state.Store(state.Index, 1, 0);
                        (Freed ??= []).Add(state.ChildTablePa);
                    }
                    return true;
                default:
                    return Stop(Errno.ENOENT);
            }
        }

        private bool Stop(Errno err)
        {
            Error = err;
            return false;
        }
    }
}
