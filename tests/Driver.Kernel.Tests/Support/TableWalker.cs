using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Tests.Support;

/// <summary>Finds items the way hardware would, to play the IOMMU setting A/D bits.</summary>
internal static class TableWalker
{
    /// <summary>Physical address of the leaf item that translates <paramref name="iova"/>.</summary>
    public static ulong LeafItemPa<TFormat>(IommuPageTable<TFormat> table, IPhysicalMemory memory, ulong iova)
        where TFormat : struct, IPtFormat
    {
        int level = table.TopLevel;
        ulong tablePa = table.TopPa;
        while (true)
        {
            ulong itemPa = tablePa + ((ulong)PtGeometry.Index(iova, level) * 8);
            ulong item = memory.ReadU64(itemPa);
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Table:
                    tablePa = TFormat.TablePa(item);
                    level--;
                    break;
                case PtEntryType.Leaf:
                    return itemPa;
                default:
                    throw new InvalidOperationException($"0x{iova:x} is not mapped");
            }
        }
    }

    /// <summary>Tables reachable from the top, the top included: what the table owns.</summary>
    public static int CountTables<TFormat>(IommuPageTable<TFormat> table, IPhysicalMemory memory)
        where TFormat : struct, IPtFormat => CountTables<TFormat>(memory, table.TopLevel, table.TopPa);

    private static int CountTables<TFormat>(IPhysicalMemory memory, int level, ulong tablePa)
        where TFormat : struct, IPtFormat
    {
        int count = 1;
        for (int index = 0; level > 0 && index < PtGeometry.ItemsPerTable; index++)
        {
            ulong item = memory.ReadU64(tablePa + ((ulong)index * 8));
            if (TFormat.Classify(item, level) == PtEntryType.Table)
                count += CountTables<TFormat>(memory, level - 1, TFormat.TablePa(item));
        }
        return count;
    }
}
