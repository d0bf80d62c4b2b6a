using System.Collections.Generic;
using System.Linq;
using Driver.Generators.Emitting;
using Driver.Generators.Model;
using Driver.Generators.Parsing;

namespace Driver.Generators.Checking;

/// <summary>
/// Checks one parsed file against the types of every hwdef file (duplicates, enum field types,
/// register layouts and block geometry) and emits the declarations that are free of errors.
/// </summary>
internal sealed class HwdefChecker
{
    private readonly ParsedFile _file;
    private readonly SymbolTable _symbols;
    private readonly List<DiagnosticInfo> _diagnostics;
    private readonly string _namespace;

    // A declaration's index here is its ordinal in the symbol table; ranked once per file.
    private readonly List<int> _declarationStarts;

    private HwdefChecker(ParsedFile file, SymbolTable symbols, string ns)
    {
        _file = file;
        _symbols = symbols;
        _namespace = ns;
        _diagnostics = new List<DiagnosticInfo>(file.Diagnostics);
        _declarationStarts = SymbolTableBuilder.DeclarationStarts(file);
    }

    public static FileOutput Check(ParsedFile file, SymbolTable symbols)
    {
        if (file.Namespace == null)
        {
            return new FileOutput(file.HintName, null, null, file.Diagnostics);
        }

        return new HwdefChecker(file, symbols, file.Namespace).Run();
    }

    private FileOutput Run()
    {
        var emitter = new FileEmitter(_file.HintName, _namespace, name => Find(name)?.Members ?? EquatableArray<EnumMemberDecl>.Empty);
        foreach (EnumDecl e in _file.Enums)
        {
            if (!IsDuplicate(e.Name, e.NameSpan) && !e.HasErrors)
            {
                emitter.AddEnum(e);
            }
        }

        foreach (LayoutDecl layout in _file.Layouts)
        {
            bool duplicate = IsDuplicate(layout.Name, layout.NameSpan);
            bool fieldsOk = CheckEnumFields(layout);
            if (!duplicate && fieldsOk && !layout.HasErrors)
            {
                emitter.AddLayout(layout);
            }
        }

        foreach (BlockDecl block in _file.Blocks)
        {
            bool duplicate = IsDuplicate(block.Name, block.NameSpan);
            bool registersOk = CheckRegisters(block);
            if (!duplicate && registersOk && !block.HasErrors)
            {
                emitter.AddBlock(block);
            }
        }

        List<DiagnosticInfo> ordered = _diagnostics
            .OrderBy(d => d.Span.Start)
            .ThenBy(d => d.Id, System.StringComparer.Ordinal)
            .ToList();
        return new FileOutput(_file.HintName, emitter.IsEmpty ? null : emitter.ToString(), emitter.CatalogPart, ordered.ToEquatableArray());
    }

    /// <summary>A type is a duplicate when the same name comes earlier in its namespace (files by path, then by position).</summary>
    private bool IsDuplicate(string name, SourceSpan span)
    {
        int ordinal = _declarationStarts.IndexOf(span.Start);
        foreach (TypeSymbol other in _symbols.Types)
        {
            if (other.Namespace != _namespace || other.Name != name)
            {
                continue;
            }

            int order = string.CompareOrdinal(other.ProjectPath, _file.ProjectPath);
            if (order < 0 || (order == 0 && other.Ordinal < ordinal))
            {
                string where = order == 0 ? "earlier in this file" : "in " + other.ProjectPath;
                Error(DiagnosticIds.Duplicate, "Type '" + name + "' is already declared in namespace " + _namespace + " (" + where + ")", span);
                return true;
            }
        }

        return false;
    }

    private TypeSymbol? Find(string name)
    {
        foreach (TypeSymbol symbol in _symbols.Types)
        {
            if (symbol.Namespace == _namespace && symbol.Name == name)
            {
                return symbol;
            }
        }

        return null;
    }

    private bool CheckEnumFields(LayoutDecl layout)
    {
        bool ok = true;
        foreach (FieldDecl field in layout.Fields)
        {
            if (field.Kind != FieldKind.Enum)
            {
                continue;
            }

            TypeSymbol? symbol = Find(field.EnumName!);
            if (symbol == null)
            {
                Error(DiagnosticIds.UnknownType, "Unknown type '" + field.EnumName + "': not bool, u, addr, addr@N or an enum of namespace " + _namespace, field.TypeSpan);
                ok = false;
            }
            else if (symbol.Kind != TypeKind.Enum)
            {
                Error(DiagnosticIds.UnknownType, "'" + field.EnumName + "' is a " + (symbol.Kind == TypeKind.Layout ? "layout" : "block") + ", not an enum", field.TypeSpan);
                ok = false;
            }
            else
            {
                // An enum with errors of its own is still checked against (its width is 0 when
                // that is what is wrong); it is not emitted, so neither is the layout.
                if (symbol.Bits > 0 && field.WidthKnown && symbol.Bits != field.Width)
                {
                    Error(DiagnosticIds.TypeMismatch, "Enum '" + symbol.Name + "' is " + symbol.Bits + " bits wide but field '" + field.Name + "' has " + field.Width, field.TypeSpan);
                    ok = false;
                }

                ok &= !symbol.HasErrors;
            }
        }

        return ok;
    }

    private bool CheckRegisters(BlockDecl block)
    {
        bool ok = true;
        var placed = new List<Placed>();
        foreach (RegisterDecl register in block.Registers)
        {
            TypeSymbol? symbol = Find(register.LayoutName);
            if (symbol == null || symbol.Kind != TypeKind.Layout)
            {
                Error(DiagnosticIds.UnknownType, "Unknown register layout '" + register.LayoutName + "' in namespace " + _namespace, register.LayoutSpan);
                ok = false;
                continue;
            }

            if (symbol.Bits == 0)
            {
                // The layout's width is its own error, reported where it is declared.
                ok = false;
                continue;
            }

            if (symbol.Bits != 32 && symbol.Bits != 64)
            {
                Error(DiagnosticIds.Block, "Register '" + register.Name + "' uses layout '" + symbol.Name + "' of " + symbol.Bits + " bits; registers are 32 or 64 bits", register.LayoutSpan);
                ok = false;
                continue;
            }

            string? problem = Place(block, register, (ulong)symbol.Bits / 8, placed);
            if (problem != null)
            {
                Error(DiagnosticIds.Block, problem, register.LineSpan);
                ok = false;
            }
        }

        return ok;
    }

    /// <summary>Places every element of a register among those placed so far (kept sorted by start); returns the first problem, or null.</summary>
    private static string? Place(BlockDecl block, RegisterDecl register, ulong size, List<Placed> placed)
    {
        int count = register.Count == 0 ? 1 : register.Count;
        var mine = new List<Placed>();
        for (int i = 0; i < count; i++)
        {
            string element = register.Count == 0 ? register.Name : register.Name + "[" + i + "]";
            ulong step = register.Stride * (ulong)i;
            ulong start = register.Offset + step;
            bool overflow = (register.Stride != 0 && step / register.Stride != (ulong)i) || start < register.Offset;
            // A block whose size is its own error (0) cannot tell what lies outside it.
            bool outside = block.Size > 0 && (start > block.Size || block.Size - start < size);
            if (overflow || outside)
            {
                return "Register '" + element + "' lies outside block '" + block.Name + "' (size 0x" + block.Size.ToString("x") + ")";
            }

            if (start % size != 0)
            {
                return "Register '" + element + "' at 0x" + start.ToString("x") + " is not aligned to its " + size + "-byte size";
            }

            var candidate = new Placed(start, start + size, element);
            string? overlap = Overlap(placed, candidate) ?? Overlap(mine, candidate);
            if (overlap != null)
            {
                return "Register '" + element + "' at 0x" + start.ToString("x") + " overlaps '" + overlap + "'";
            }

            Insert(mine, candidate);
        }

        foreach (Placed p in mine)
        {
            Insert(placed, p);
        }

        return null;
    }

    private static int LowerBound(List<Placed> sorted, ulong start)
    {
        int low = 0;
        int high = sorted.Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (sorted[middle].Start < start)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    private static string? Overlap(List<Placed> sorted, Placed candidate)
    {
        int index = LowerBound(sorted, candidate.Start);
        if (index > 0 && sorted[index - 1].End > candidate.Start)
        {
            return sorted[index - 1].Name;
        }

        return index < sorted.Count && sorted[index].Start < candidate.End ? sorted[index].Name : null;
    }

    private static void Insert(List<Placed> sorted, Placed item) => sorted.Insert(LowerBound(sorted, item.Start), item);

    private readonly record struct Placed(ulong Start, ulong End, string Name);

    private void Error(string id, string message, SourceSpan span) =>
        _diagnostics.Add(new DiagnosticInfo(id, message, _file.Path, span));
}
