namespace Driver.Generators.Model;

/// <summary>One contiguous run of bits, High down to Low, in layout bit numbering.</summary>
internal readonly record struct BitRange(int High, int Low)
{
    public int Width => High - Low + 1;

    public override string ToString() => High == Low ? High.ToString() : High + ":" + Low;
}

internal enum FieldKind
{
    Bool,
    Unsigned,
    Address,
    Enum,
}

internal enum FieldAccess
{
    ReadWrite,
    ReadOnly,
    WriteOnly,
    WriteOneToClear,
}

internal enum ReservedKind
{
    Res0,
    Res1,
    Ignored,
}

/// <summary>
/// A named field: its pieces from the least significant piece of the value upwards. A field
/// with errors is kept (its layout is then not emitted) so that what it refers to is still
/// checked; WidthKnown is false when a piece has H &lt; L.
/// </summary>
internal sealed record FieldDecl(
    string Name,
    EquatableArray<BitRange> Pieces,
    FieldKind Kind,
    string? EnumName,
    int AddressShift,
    string TypeText,
    FieldAccess Access,
    string? Doc,
    SourceSpan NameSpan,
    SourceSpan TypeSpan,
    bool WidthKnown)
{
    public int Width
    {
        get
        {
            int width = 0;
            foreach (BitRange piece in Pieces)
            {
                width += piece.Width;
            }

            return width;
        }
    }

    public int LowestBit
    {
        get
        {
            int lowest = int.MaxValue;
            foreach (BitRange piece in Pieces)
            {
                lowest = System.Math.Min(lowest, piece.Low);
            }

            return lowest;
        }
    }
}

internal sealed record ReservedDecl(ReservedKind Kind, EquatableArray<BitRange> Pieces, string? Doc);

internal sealed record LayoutDecl(
    string Name,
    int Bits,
    string? Doc,
    SourceSpan NameSpan,
    EquatableArray<FieldDecl> Fields,
    EquatableArray<ReservedDecl> Reserved,
    ulong? Reset,
    bool HasErrors);

internal sealed record EnumMemberDecl(string Name, ulong Value, string? Doc);

internal sealed record EnumDecl(
    string Name,
    int Bits,
    string? Doc,
    SourceSpan NameSpan,
    EquatableArray<EnumMemberDecl> Members,
    bool HasErrors);

/// <summary>A register of a block; Count is 0 for a single register, else the array length.</summary>
internal sealed record RegisterDecl(
    string Name,
    ulong Offset,
    string LayoutName,
    int Count,
    ulong Stride,
    string? Doc,
    SourceSpan LineSpan,
    SourceSpan LayoutSpan);

internal sealed record BlockDecl(
    string Name,
    ulong Size,
    string? Doc,
    SourceSpan NameSpan,
    EquatableArray<RegisterDecl> Registers,
    bool HasErrors);

/// <summary>
/// Everything one hwdef file says, with the problems found by reading it alone. Path locates
/// diagnostics; ProjectPath (relative to the project) names and orders what is generated.
/// </summary>
internal sealed record ParsedFile(
    string Path,
    string ProjectPath,
    string HintName,
    string? Namespace,
    EquatableArray<EnumDecl> Enums,
    EquatableArray<LayoutDecl> Layouts,
    EquatableArray<BlockDecl> Blocks,
    EquatableArray<DiagnosticInfo> Diagnostics);
