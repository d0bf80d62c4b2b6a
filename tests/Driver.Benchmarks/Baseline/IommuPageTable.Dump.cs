namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>Every translation in the table, a contiguous entry once, in walk order (debugfs-style).</summary>
    public IReadOnlyList<PtEntryInfo> Dump()
    {
        ulong top = ReadTop();
        var entries = new List<PtEntryInfo>();
        DumpLevel(LevelOf(top), TableOf(top), 0, _signExtend, entries);
        return entries;
    }

    private void DumpLevel(int level, ulong tablePa, ulong tableBase, bool signExtend, List<PtEntryInfo> entries)
    {
        int itemLg2 = PtGeometry.ItemLg2(level);
        for (int index = 0; index < PtGeometry.ItemsPerTable; index++)
        {
            ulong item = _memory.ReadU64(ItemPa(tablePa, index));
            ulong itemVa = tableBase + ((ulong)index << itemLg2);
            // In the top table of a split space the upper half is sign-extended.
            if (signExtend)
                itemVa = (ulong)((long)(itemVa << (64 - _vaBits)) >> (64 - _vaBits));
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Table:
                    DumpLevel(level - 1, TFormat.TablePa(item), itemVa, false, entries);
                    break;
                case PtEntryType.Leaf:
                    int sizeLg2 = TFormat.LeafSizeLg2(item, level);
                    int count = 1 << (sizeLg2 - itemLg2);
                    entries.Add(new PtEntryInfo(itemVa, TFormat.LeafOa(item, level), sizeLg2, level,
                        TFormat.ProtFromAttrs(TFormat.LeafAttrs(item)), AnyDirty(tablePa, index, count)));
                    index += count - 1;
                    break;
            }
        }
    }
}
