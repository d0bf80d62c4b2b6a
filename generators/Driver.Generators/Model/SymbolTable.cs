namespace Driver.Generators.Model;

internal enum TypeKind
{
    Enum,
    Layout,
    Block,
}

/// <summary>
/// What other files need to know of a declared type. It deliberately holds no source position,
/// so that editing one file leaves the table, and every other file's output, unchanged.
/// </summary>
internal sealed record TypeSymbol(
    string Namespace,
    string Name,
    TypeKind Kind,
    int Bits,
    string Path,
    int Ordinal,
    EquatableArray<EnumMemberDecl> Members,
    bool HasErrors);

internal sealed record SymbolTable(EquatableArray<TypeSymbol> Types);

/// <summary>The result for one hwdef file: its generated source (null when nothing is emitted) and its diagnostics.</summary>
internal sealed record FileOutput(string HintName, string? Source, EquatableArray<DiagnosticInfo> Diagnostics);
