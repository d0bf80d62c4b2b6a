using System.Collections.Generic;
using Driver.Generators.Model;
using Driver.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Driver.Generators;

/// <summary>The descriptors of the hwdef diagnostics and their conversion from pipeline values.</summary>
internal static class HwdefDiagnostics
{
    private const string Category = "Hwdef";

    private static readonly Dictionary<string, DiagnosticDescriptor> Descriptors = new Dictionary<string, DiagnosticDescriptor>
    {
        [DiagnosticIds.Syntax] = Error(DiagnosticIds.Syntax, "Not a hwdef statement"),
        [DiagnosticIds.Overlap] = Error(DiagnosticIds.Overlap, "Bits covered twice"),
        [DiagnosticIds.BitOutside] = Error(DiagnosticIds.BitOutside, "Bit outside the layout or unsupported width"),
        [DiagnosticIds.UnknownType] = Error(DiagnosticIds.UnknownType, "Unknown type"),
        [DiagnosticIds.Duplicate] = Error(DiagnosticIds.Duplicate, "Duplicate name"),
        [DiagnosticIds.ValueTooWide] = Error(DiagnosticIds.ValueTooWide, "Value does not fit"),
        [DiagnosticIds.TypeMismatch] = Error(DiagnosticIds.TypeMismatch, "Type does not fit its field"),
        [DiagnosticIds.Block] = Error(DiagnosticIds.Block, "Register block error"),
        [DiagnosticIds.Uncovered] = new DiagnosticDescriptor(DiagnosticIds.Uncovered, "Bits covered by no line", "{0}", Category, DiagnosticSeverity.Warning, isEnabledByDefault: true),
        [DiagnosticIds.Structure] = Error(DiagnosticIds.Structure, "File structure error"),
    };

    private static DiagnosticDescriptor Error(string id, string title) =>
        new DiagnosticDescriptor(id, title, "{0}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static DiagnosticDescriptor Descriptor(string id) => Descriptors[id];

    public static Diagnostic Create(DiagnosticInfo info)
    {
        SourceSpan span = info.Span;
        var start = new LinePosition(span.Line, span.Column);
        var end = new LinePosition(span.Line, span.Column + span.Length);
        Location location = Location.Create(info.Path, new TextSpan(span.Start, span.Length), new LinePositionSpan(start, end));
        return Diagnostic.Create(Descriptors[info.Id], location, info.Message);
    }
}
