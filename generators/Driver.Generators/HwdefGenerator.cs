using Driver.Generators.Checking;
using Driver.Generators.Emitting;
using Driver.Generators.Model;
using Driver.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Driver.Generators;

/// <summary>
/// Turns every <c>*.hwdef</c> AdditionalFile into C# layouts (see docs/hwdef-format.md).
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

        // Names are derived from the path relative to the project, never from where the checkout lives.
        IncrementalValueProvider<string?> projectDir = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) => options.GlobalOptions.TryGetValue(ProjectPath.ProjectDirOption, out string? dir) ? dir : null);

        IncrementalValuesProvider<ParsedFile> files = context.AdditionalTextsProvider
            .Where(static text => text.Path.EndsWith(".hwdef", System.StringComparison.OrdinalIgnoreCase))
            .Combine(projectDir)
            .Select(static (pair, cancellationToken) => HwdefParser.Parse(
                pair.Left.Path,
                ProjectPath.Relative(pair.Left.Path, pair.Right),
                pair.Left.GetText(cancellationToken) ?? SourceText.From(string.Empty),
                cancellationToken))
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

        // The catalog's index names every file's part, so that finding them takes no reflection.
        IncrementalValueProvider<EquatableArray<string>> parts = outputs
            .Where(static output => output.CatalogPart != null)
            .Select(static (output, _) => output.CatalogPart!)
            .Collect()
            .Select(static (names, _) => names.ToEquatableArray());
        context.RegisterSourceOutput(parts, static (production, names) =>
            production.AddSource(CatalogEmitter.IndexHintName, SourceText.From(CatalogEmitter.Index(names), System.Text.Encoding.UTF8)));
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
