using System.Numerics;
using System.Runtime.CompilerServices;
using Driver.Hw.AmdIommu;

namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>
/// The AMD IOMMU host ("v1") I/O page table. Levels 0..5 are DTE modes 1..6.
/// Natural-size leaves have NextLevel 0; every other power of two from 8 KiB to
/// 2^51 is a sized leaf (NextLevel 7) whose size is the run of ones in the
/// address field from bit 12, replicated into every item it covers. 512 GiB
/// pages are excluded (a hardware erratum); the top-most level holds no leaves.
/// </summary>
public readonly struct AmdV1Format : IPtFormat
{
    private const ulong NextLevelSized = 7;
    private const int MaxSizeLg2 = 51;
    private const ulong Size512G = 1UL << 39;

    // Tables always grant IR and IW: permissions are ANDed down the walk, so the leaf decides.
    private const ulong TableBits = AmdV1Pte.PresentMask | AmdV1Pte.IoReadMask | AmdV1Pte.IoWriteMask;
    private const ulong AttrMask = AmdV1Pte.ForceCoherentMask | AmdV1Pte.IoReadMask | AmdV1Pte.IoWriteMask
        | AmdV1Pte.AccessedMask | AmdV1Pte.DirtyMask;

    public static int MaxTopLevel => 5;

    public static int MaxVaBits => 64;

    public static int MaxOaBits => 52;

    public static bool SupportsDynamicTop => true;

    public static bool SupportsSignExtend => false;

    public static ulong HardwareBits => AmdV1Pte.AccessedMask | AmdV1Pte.DirtyMask;

    public static ulong DirtyBit => AmdV1Pte.DirtyMask;

    public static ulong PossibleSizes(int level)
    {
        if (level >= MaxTopLevel)
            return 0;
        int itemLg2 = PtGeometry.ItemLg2(level);
        int highLg2 = Math.Min(MaxSizeLg2, itemLg2 + PtGeometry.ItemsLg2 - 1);
        ulong sizes = ((2UL << highLg2) - 1) & ~((1UL << itemLg2) - 1);
        return sizes & ~Size512G;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PtEntryType Classify(ulong item, int level)
    {
        if ((item & AmdV1Pte.PresentMask) == 0)
            return PtEntryType.Empty;
        ulong nextLevel = (item & AmdV1Pte.NextLevelMask) >> AmdV1Pte.NextLevelShift;
        return level == 0 || nextLevel == 0 || nextLevel == NextLevelSized ? PtEntryType.Leaf : PtEntryType.Table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TablePa(ulong item) => item & AmdV1Pte.AddressMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeTable(ulong tablePa, int level) =>
        TableBits | ((ulong)level << AmdV1Pte.NextLevelShift) | tablePa;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeLeaf(ulong oa, int sizeLg2, int level, ulong attrs)
    {
        ulong item = AmdV1Pte.PresentMask | oa | attrs;
        if (sizeLg2 == PtGeometry.ItemLg2(level))
            return item;
        // Ones from bit 12 up to bit sizeLg2 - 2; bit sizeLg2 - 1 stays 0 (oa is aligned).
        ulong sizeCode = ((1UL << (sizeLg2 - 1)) - 1) & AmdV1Pte.AddressMask;
        return item | sizeCode | (NextLevelSized << AmdV1Pte.NextLevelShift);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LeafSizeLg2(ulong item, int level)
    {
        if ((item & AmdV1Pte.NextLevelMask) != NextLevelSized << AmdV1Pte.NextLevelShift)
            return PtGeometry.ItemLg2(level);
        return BitOperations.TrailingZeroCount(~(item >> AmdV1Pte.AddressShift)) + AmdV1Pte.AddressShift + 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafOa(ulong item, int level) =>
        item & AmdV1Pte.AddressMask & ~((1UL << LeafSizeLg2(item, level)) - 1);

    public static ulong LeafAttrs(ulong item) => item & AttrMask;

    public static ulong AttrsFromProt(IommuProt prot)
    {
        ulong attrs = 0;
        if ((prot & IommuProt.Read) != 0)
            attrs |= AmdV1Pte.IoReadMask;
        if ((prot & IommuProt.Write) != 0)
            attrs |= AmdV1Pte.IoWriteMask;
        // Cacheable (snooped) DMA is what FC forces.
        if ((prot & IommuProt.Cache) != 0)
            attrs |= AmdV1Pte.ForceCoherentMask;
        return attrs;
    }

    public static IommuProt ProtFromAttrs(ulong attrs)
    {
        var prot = IommuProt.None;
        if ((attrs & AmdV1Pte.IoReadMask) != 0)
            prot |= IommuProt.Read;
        if ((attrs & AmdV1Pte.IoWriteMask) != 0)
            prot |= IommuProt.Write;
        if ((attrs & AmdV1Pte.ForceCoherentMask) != 0)
            prot |= IommuProt.Cache;
        return prot;
    }
}
