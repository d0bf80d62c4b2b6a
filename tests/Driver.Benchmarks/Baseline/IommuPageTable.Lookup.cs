namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>The output address <paramref name="iova"/> translates to, page offset included; 0 when unmapped (as Linux).</summary>
    public ulong IovaToPhys(ulong iova) => TryLookup(iova, out var entry) ? entry.Oa + (iova - entry.Iova) : 0;

    /// <summary>The entry that translates <paramref name="iova"/>, if any.</summary>
    public bool TryLookup(ulong iova, out PtEntryInfo entry)
    {
        entry = default;
        ulong top = ReadTop();
        int level = LevelOf(top);
        ulong tablePa = TableOf(top);
        if (!Covers(level, iova, iova))
            return false;
        while (true)
        {
            int index = PtGeometry.Index(iova, level);
            ulong item = _memory.ReadU64(ItemPa(tablePa, index));
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Table:
                    tablePa = TFormat.TablePa(item);
                    level--;
                    continue;
                case PtEntryType.Leaf:
                    int sizeLg2 = TFormat.LeafSizeLg2(item, level);
                    int count = 1 << (sizeLg2 - PtGeometry.ItemLg2(level));
                    bool dirty = AnyDirty(tablePa, index & ~(count - 1), count);
                    entry = new PtEntryInfo(iova & ~((1UL << sizeLg2) - 1), TFormat.LeafOa(item, level), sizeLg2,
                        level, TFormat.ProtFromAttrs(TFormat.LeafAttrs(item)), dirty);
                    return true;
                default:
                    return false;
            }
        }
    }

    // A contiguous entry is dirty when any of its items is.
    private bool AnyDirty(ulong tablePa, int firstIndex, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if ((_memory.ReadU64(ItemPa(tablePa, firstIndex + i)) & TFormat.DirtyBit) != 0)
                return true;
        }
        return false;
    }
}
