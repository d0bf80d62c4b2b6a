using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// Finds the slot of the leaf that translates an IOVA in an AMDv1 table, as the host's IOMMU code
/// does to hand firmware the address of a 2 MiB IOPDE. Reads through the memory it is given (the
/// kernel's direct map, or the device view for a firmware model).
/// </summary>
internal static class IoPageWalk
{
    private const int ItemsLg2 = 9;
    private const int GranuleLg2 = 12;

    /// <summary>
    /// The physical address of the leaf entry for <paramref name="iova"/> and its level (0 = 4 KiB, 1 = 2 MiB).
    /// False at a hole, with <paramref name="slotPa"/> and <paramref name="level"/> naming the empty slot.
    /// </summary>
    public static bool TryLeafSlot(IPhysicalMemory memory, ulong topPa, int topLevel, ulong iova, out ulong slotPa, out int level)
    {
        ulong table = topPa;
        for (level = topLevel; level >= 0; level--)
        {
            int index = (int)((iova >> (GranuleLg2 + (ItemsLg2 * level))) & ((1 << ItemsLg2) - 1));
            slotPa = table + ((ulong)index * sizeof(ulong));
            ulong item = memory.ReadU64(slotPa);
            switch (AmdV1Format.Classify(item, level))
            {
                case PtEntryType.Leaf:
                    return true;
                case PtEntryType.Table:
                    table = AmdV1Format.TablePa(item);
                    break;
                default:
                    return false;
            }
        }
        slotPa = 0;
        return false;
    }
}
