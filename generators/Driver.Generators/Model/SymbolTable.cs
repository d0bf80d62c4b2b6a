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
    string ProjectPath,
    int Ordinal,
    EquatableArray<EnumMemberDecl> Members,
    bool HasErrors);

internal sealed record SymbolTable(EquatableArray<TypeSymbol> Types);

/// <summary>
/// The result for one hwdef file: its generated source (null when nothing is emitted), the name
/// of its part of the layout catalog (null when it emits no layout), and its diagnostics.
/// </summary>
internal sealed record FileOutput(string HintName, string? Source, string? CatalogPart, EquatableArray<DiagnosticInfo> Diagnostics);
