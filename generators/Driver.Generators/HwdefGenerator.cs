using Driver.Generators.Checking;
using Driver.Generators.Emitting;
using Driver.Generators.Model;
using Driver.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Driver.Generators;

/// <summary>
/// Turns every <c>*.hwdef</c> AdditionalFile into C# layouts (see hwdef-format.md).
/// Pipeline: parse each file alone, gather a position-free table of the declared types, then
/// check and emit each file against that table. A file whose text and table are unchanged is
/// not parsed or emitted again.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class HwdefGenerator : IIncrementalGenerator
{
    /// <summary>Tracking names of the pipeline steps, for incrementality tests.</summary>
    public const string ParseStep = "HwdefParse";
    public const string SymbolsStep = "HwdefSymbols";
    public const string OutputStep = "HwdefOutput";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        context.RegisterPostInitializationOutput(static post =>
            post.AddSource(SupportSource.HintName, SourceText.From(SupportSource.Text, System.Text.Encoding.UTF8)));

        IncrementalValuesProvider<ParsedFile> files = context.AdditionalTextsProvider
            .Where(static text => text.Path.EndsWith(".hwdef", System.StringComparison.OrdinalIgnoreCase))
            .Select(static (text, cancellationToken) => HwdefParser.Parse(text.Path, text.GetText(cancellationToken) ?? SourceText.From(string.Empty), cancellationToken))
            .WithTrackingName(ParseStep);

        IncrementalValueProvider<SymbolTable> symbols = files
            .Select(static (file, _) => SymbolTableBuilder.SymbolsOf(file))
            .Collect()
            .Select(static (perFile, _) => SymbolTableBuilder.Merge(perFile))
            .WithTrackingName(SymbolsStep);

        IncrementalValuesProvider<FileOutput> outputs = files
            .Combine(symbols)
            .Select(static (pair, _) => HwdefChecker.Check(pair.Left, pair.Right))
            .WithTrackingName(OutputStep);

        context.RegisterSourceOutput(outputs, static (production, output) => Produce(production, output));
    }

    private static void Produce(SourceProductionContext production, FileOutput output)
    {
        foreach (DiagnosticInfo diagnostic in output.Diagnostics)
        {
            production.ReportDiagnostic(HwdefDiagnostics.Create(diagnostic));
        }

        if (output.Source != null)
        {
            production.AddSource(output.HintName, SourceText.From(output.Source, System.Text.Encoding.UTF8));
        }
    }
}
