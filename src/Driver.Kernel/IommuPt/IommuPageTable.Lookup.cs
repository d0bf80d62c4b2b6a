namespace Driver.Kernel.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>The output address <paramref name="iova"/> translates to, page offset included; 0 when unmapped (as Linux).</summary>
    public ulong IovaToPhys(ulong iova) => TryLookup(iova, out var entry) ? entry.Oa + (iova - entry.Iova) : 0;

    /// <summary>The entry that translates <paramref name="iova"/>, if any.</summary>
    public bool TryLookup(ulong iova, out PtEntryInfo entry)
    {
        entry = default;
        ulong top = ReadTop();
        if (!Covers(LevelOf(top), iova, iova))
            return false;
        var op = new LookupOp();
        PtWalk<TFormat>.Range(ref op, _memory, TableOf(top), LevelOf(top), iova, iova);
        entry = op.Entry;
        return op.Found;
    }

    private struct LookupOp : IPtLevelOp<TFormat>
    {
        public PtEntryInfo Entry;
        public bool Found;

        public PtStep Visit(ref PtState<TFormat> state)
        {
            if (state.Type == PtEntryType.Table)
                return PtStep.Descend;
            if (state.Type == PtEntryType.Leaf)
            {
                Entry = EntryInfo(ref state, state.Va & ~((1UL << state.EntryLg2) - 1));
                Found = true;
            }
            return PtStep.Stop;
        }

        public readonly bool Ascend(ref PtState<TFormat> state) => true;
    }

    /// <summary>The entry the loaded leaf belongs to, starting at <paramref name="iova"/>.</summary>
    private static PtEntryInfo EntryInfo(ref PtState<TFormat> state, ulong iova) =>
        new(iova, TFormat.LeafOa(state.Item, state.Level), state.EntryLg2, state.Level,
            TFormat.ProtFromAttrs(TFormat.LeafAttrs(state.Item)), state.AnyDirty(state.EntryIndex, state.EntryItems));
}
