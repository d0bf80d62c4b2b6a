namespace Driver.Kernel.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>Every translation in the table, a contiguous entry once, in walk order (debugfs-style).</summary>
    public IReadOnlyList<PtEntryInfo> Dump()
    {
        ulong top = ReadTop();
        var op = new DumpOp { Entries = [], TopLevel = LevelOf(top), SignExtendBits = _signExtend ? 64 - _vaBits : 0 };
        PtWalk<TFormat>.Whole(ref op, _memory, TableOf(top), LevelOf(top), 0);
        return op.Entries;
    }

    private struct DumpOp : IPtLevelOp<TFormat>
    {
        public List<PtEntryInfo> Entries;
        public int TopLevel;
        public int SignExtendBits;

        public readonly bool Ascend(ref PtState<TFormat> state) => true;

        public PtStep Visit(ref PtState<TFormat> state)
        {
            ulong itemVa = state.ItemVa;
            // In the top table of a split space the upper half is sign-extended.
            if (SignExtendBits != 0 && state.Level == TopLevel)
                itemVa = (ulong)((long)(itemVa << SignExtendBits) >> SignExtendBits);
            if (state.Type == PtEntryType.Table)
            {
                // Not a plain descent: the child translates from the sign-extended address.
                PtWalk<TFormat>.Whole(ref this, state.Memory, state.ChildTablePa, state.Level - 1, itemVa);
            }
            else if (state.Type == PtEntryType.Leaf)
            {
                Entries.Add(EntryInfo(ref state, itemVa));
                state.SkipEntry();
            }
            return PtStep.Next;
        }
    }
}
