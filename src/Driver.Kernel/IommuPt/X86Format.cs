using System.Runtime.CompilerServices;
using Driver.Hw.X86;

namespace Driver.Kernel.IommuPt;

/// <summary>
/// The x86-64 4- and 5-level page table, as the AMD IOMMU uses it for v2
/// (first-stage) tables: 4 KiB leaves at level 0, 2 MiB and 1 GiB leaves (PS)
/// at levels 1 and 2, tables only above. The top is fixed by the paging mode.
/// </summary>
public readonly struct X86Format : IPtFormat
{
    private const ulong TableBits = X86Pte.PresentMask | X86Pte.WritableMask | X86Pte.UserMask | X86Pte.AccessedMask;
    private const ulong AttrMask = X86Pte.WritableMask | X86Pte.UserMask | X86Pte.AccessedMask | X86Pte.DirtyMask
        | X86Pte.NoExecuteMask;
    private const int MaxLeafLevel = 2;

    public static int MaxTopLevel => 4;

    public static int MaxVaBits => 57;

    public static int MaxOaBits => 52;

    public static bool SupportsSignExtend => true;

    public static ulong HardwareBits => X86Pte.AccessedMask | X86Pte.DirtyMask;

    public static ulong DirtyBit => X86Pte.DirtyMask;

    public static ulong PossibleSizes(int level) => level <= MaxLeafLevel ? 1UL << PtGeometry.ItemLg2(level) : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PtEntryType Classify(ulong item, int level)
    {
        if ((item & X86Pte.PresentMask) == 0)
            return PtEntryType.Empty;
        return level == 0 || (level <= MaxLeafLevel && (item & X86Pte.PageSizeMask) != 0)
            ? PtEntryType.Leaf
            : PtEntryType.Table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TablePa(ulong item) => item & X86Pte.AddressMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeTable(ulong tablePa, int level) => TableBits | tablePa;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeLeaf(ulong oa, int sizeLg2, int level, ulong attrs) =>
        X86Pte.PresentMask | oa | attrs | (level == 0 ? 0 : X86Pte.PageSizeMask);

    // In a large leaf bit 12 is PAT, not address: mask to the page size.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafOa(ulong item, int level) =>
        item & X86Pte.AddressMask & ~((1UL << PtGeometry.ItemLg2(level)) - 1);

    public static ulong LeafAttrs(ulong item) => item & AttrMask;

    // As Linux: user and accessed always; writable leaves start dirty; x86 cannot express write-only.
    public static ulong AttrsFromProt(IommuProt prot) =>
        X86Pte.UserMask | X86Pte.AccessedMask
        | ((prot & IommuProt.Write) != 0 ? X86Pte.WritableMask | X86Pte.DirtyMask : 0);

    public static IommuProt ProtFromAttrs(ulong attrs)
    {
        var prot = IommuProt.Read;
        if ((attrs & X86Pte.WritableMask) != 0)
            prot |= IommuProt.Write;
        if ((attrs & X86Pte.NoExecuteMask) != 0)
            prot |= IommuProt.NoExec;
        return prot;
    }
}
