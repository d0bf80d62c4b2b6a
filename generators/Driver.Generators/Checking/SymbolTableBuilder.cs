using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Driver.Generators.Model;

namespace Driver.Generators.Checking;

/// <summary>Collects the declared types of every hwdef file into one position-free table.</summary>
internal static class SymbolTableBuilder
{
    public static EquatableArray<TypeSymbol> SymbolsOf(ParsedFile file)
    {
        if (file.Namespace == null)
        {
            return EquatableArray<TypeSymbol>.Empty;
        }

        string ns = file.Namespace;
        var declared = new List<(int Start, TypeSymbol Symbol)>();
        foreach (EnumDecl e in file.Enums)
        {
            // Member docs are left out: only names and values matter to other files.
            EquatableArray<EnumMemberDecl> members = e.Members.Select(m => new EnumMemberDecl(m.Name, m.Value, null)).ToEquatableArray();
            declared.Add((e.NameSpan.Start, new TypeSymbol(ns, e.Name, TypeKind.Enum, e.Bits, file.ProjectPath, 0, members, e.HasErrors)));
        }

        foreach (LayoutDecl l in file.Layouts)
        {
            declared.Add((l.NameSpan.Start, new TypeSymbol(ns, l.Name, TypeKind.Layout, l.Bits, file.ProjectPath, 0, EquatableArray<EnumMemberDecl>.Empty, l.HasErrors)));
        }

        foreach (BlockDecl b in file.Blocks)
        {
            declared.Add((b.NameSpan.Start, new TypeSymbol(ns, b.Name, TypeKind.Block, 0, file.ProjectPath, 0, EquatableArray<EnumMemberDecl>.Empty, b.HasErrors)));
        }

        // The ordinal is the rank in the file, not the offset, so that moving text does not change the table.
        // A nameless declaration (a syntax error) cannot be referred to; Merge orders the table.
        List<int> starts = DeclarationStarts(file);
        return declared
            .Where(d => d.Symbol.Name.Length > 0)
            .Select(d => d.Symbol with { Ordinal = starts.IndexOf(d.Start) })
            .ToEquatableArray();
    }

    /// <summary>Where each declaration of a file starts, in file order: the index of a start is its ordinal.</summary>
    public static List<int> DeclarationStarts(ParsedFile file) =>
        file.Enums.Select(e => e.NameSpan.Start)
            .Concat(file.Layouts.Select(l => l.NameSpan.Start))
            .Concat(file.Blocks.Select(b => b.NameSpan.Start))
            .OrderBy(start => start)
            .ToList();

    public static SymbolTable Merge(ImmutableArray<EquatableArray<TypeSymbol>> perFile)
    {
        IEnumerable<TypeSymbol> all = perFile.SelectMany(symbols => symbols.Items);
        return new SymbolTable(all
            .OrderBy(s => s.ProjectPath, System.StringComparer.Ordinal)
            .ThenBy(s => s.Ordinal)
            .ToEquatableArray());
    }
}
