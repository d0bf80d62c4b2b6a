namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>
/// One page-table format, as a set of small static functions over raw 64-bit
/// items. The algorithm in <see cref="IommuPageTable{TFormat}"/> is generic
/// over a struct implementing this, so the JIT compiles one specialised copy
/// per format and every call below is inlined: no indirect call per entry.
/// Levels count from 0 (the 4 KiB leaf table) upwards.
/// </summary>
public interface IPtFormat
{
    /// <summary>The highest level a table of this format may have.</summary>
    static abstract int MaxTopLevel { get; }

    /// <summary>The widest input (IOVA) the format can translate, in bits.</summary>
    static abstract int MaxVaBits { get; }

    /// <summary>The widest output address an entry can hold, in bits.</summary>
    static abstract int MaxOaBits { get; }

    /// <summary>Whether hardware can be re-pointed at a taller table while in use.</summary>
    static abstract bool SupportsDynamicTop { get; }

    /// <summary>Whether the format splits the IOVA space into a lower and a sign-extended upper half.</summary>
    static abstract bool SupportsSignExtend { get; }

    /// <summary>Bits that hardware sets by itself in a leaf (accessed, dirty).</summary>
    static abstract ulong HardwareBits { get; }

    /// <summary>The write-dirty bit of a leaf.</summary>
    static abstract ulong DirtyBit { get; }

    /// <summary>Page sizes a leaf at <paramref name="level"/> can map: bit n set means 2^n bytes.</summary>
    static abstract ulong PossibleSizes(int level);

    static abstract PtEntryType Classify(ulong item, int level);

    /// <summary>Physical address of the table a table item points to.</summary>
    static abstract ulong TablePa(ulong item);

    /// <summary>A table item at <paramref name="level"/> pointing to the table at <paramref name="tablePa"/>.</summary>
    static abstract ulong MakeTable(ulong tablePa, int level);

    /// <summary>
    /// The item value of a leaf of 2^<paramref name="sizeLg2"/> bytes at
    /// <paramref name="oa"/> (aligned to its size), stored into every item the
    /// leaf covers. <paramref name="attrs"/> comes from <see cref="AttrsFromProt"/>
    /// or <see cref="LeafAttrs"/>. Linear in <paramref name="oa"/>.
    /// </summary>
    static abstract ulong MakeLeaf(ulong oa, int sizeLg2, int level, ulong attrs);

    /// <summary>Log2 of the size of the leaf (the whole contiguous entry) an item belongs to.</summary>
    static abstract int LeafSizeLg2(ulong item, int level);

    /// <summary>Output address of the first byte of the leaf an item belongs to.</summary>
    static abstract ulong LeafOa(ulong item, int level);

    /// <summary>The attribute bits of a leaf, hardware bits included: what <see cref="MakeLeaf"/> needs to rebuild it.</summary>
    static abstract ulong LeafAttrs(ulong item);

    /// <summary>Attribute bits for a new leaf with access <paramref name="prot"/>.</summary>
    static abstract ulong AttrsFromProt(IommuProt prot);

    /// <summary>The access that attribute bits grant.</summary>
    static abstract IommuProt ProtFromAttrs(ulong attrs);
}
