using System.Runtime.CompilerServices;
using Driver.Hw.RiscV;

namespace Driver.Kernel.IommuPt;

/// <summary>
/// The RISC-V Sv39/Sv48/Sv57 page table (also the RISC-V IOMMU's first stage):
/// a leaf may sit at any level, and with Svnapot a 64 KiB leaf is 16 identical
/// level-0 items with N set and PPN[3:0] = 1000. Take 64 KiB out of the page
/// sizes to run without Svnapot. The top is fixed by the mode.
/// </summary>
public readonly struct RiscvFormat : IPtFormat
{
    private const int NapotLg2 = 16;
    private const ulong NapotCode = 1UL << (RiscvPte.AddressShift + 3);
    private const ulong PpnLowMask = (1UL << (RiscvPte.AddressShift + 4)) - (1UL << RiscvPte.AddressShift);
    private const ulong PermissionMask = RiscvPte.ReadMask | RiscvPte.WriteMask | RiscvPte.ExecuteMask;
    private const ulong AttrMask = PermissionMask | RiscvPte.UserMask | RiscvPte.GlobalMask
        | RiscvPte.AccessedMask | RiscvPte.DirtyMask | RiscvPte.PbmtMask;
    private const int PpnToPaShift = PtGeometry.GranuleLg2 - RiscvPte.AddressShift;

    public static int MaxTopLevel => 4;

    public static int MaxVaBits => 57;

    public static int MaxOaBits => 56;

    public static bool SupportsSignExtend => true;

    public static ulong HardwareBits => RiscvPte.AccessedMask | RiscvPte.DirtyMask;

    public static ulong DirtyBit => RiscvPte.DirtyMask;

    public static ulong PossibleSizes(int level) =>
        (1UL << PtGeometry.ItemLg2(level)) | (level == 0 ? 1UL << NapotLg2 : 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PtEntryType Classify(ulong item, int level)
    {
        if ((item & RiscvPte.ValidMask) == 0)
            return PtEntryType.Empty;
        return level == 0 || (item & PermissionMask) != 0 ? PtEntryType.Leaf : PtEntryType.Table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TablePa(ulong item) => (item & RiscvPte.AddressMask) << PpnToPaShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeTable(ulong tablePa, int level) => RiscvPte.ValidMask | (tablePa >> PpnToPaShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeLeaf(ulong oa, int sizeLg2, int level, ulong attrs)
    {
        ulong item = RiscvPte.ValidMask | (oa >> PpnToPaShift) | attrs;
        return sizeLg2 == NapotLg2 ? item | RiscvPte.NapotMask | NapotCode : item;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LeafSizeLg2(ulong item, int level) =>
        (item & RiscvPte.NapotMask) != 0 ? NapotLg2 : PtGeometry.ItemLg2(level);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafOa(ulong item, int level)
    {
        ulong ppn = item & RiscvPte.AddressMask;
        if ((item & RiscvPte.NapotMask) != 0)
            ppn &= ~PpnLowMask;
        return ppn << PpnToPaShift;
    }

    public static ulong LeafAttrs(ulong item) => item & AttrMask;

    // As Linux: accessed and user always; write implies read and starts dirty (W without R is reserved).
    public static ulong AttrsFromProt(IommuProt prot)
    {
        ulong attrs = RiscvPte.AccessedMask | RiscvPte.UserMask;
        if ((prot & IommuProt.Write) != 0)
            attrs |= RiscvPte.WriteMask | RiscvPte.ReadMask | RiscvPte.DirtyMask;
        if ((prot & IommuProt.Read) != 0)
            attrs |= RiscvPte.ReadMask;
        if ((prot & IommuProt.NoExec) == 0)
            attrs |= RiscvPte.ExecuteMask;
        return attrs;
    }

    public static IommuProt ProtFromAttrs(ulong attrs)
    {
        var prot = IommuProt.None;
        if ((attrs & RiscvPte.ReadMask) != 0)
            prot |= IommuProt.Read;
        if ((attrs & RiscvPte.WriteMask) != 0)
            prot |= IommuProt.Write;
        if ((attrs & RiscvPte.ExecuteMask) == 0)
            prot |= IommuProt.NoExec;
        return prot;
    }
}
