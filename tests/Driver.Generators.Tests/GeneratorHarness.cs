using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace Driver.Generators.Tests;

/// <summary>An additional file handed to the generator, as MSBuild would hand a hwdef.</summary>
internal sealed class HwdefText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>The MSBuild properties a project hands to analyzers (build_property.*), as the .NET SDK writes them.</summary>
internal sealed class ProjectOptions(IReadOnlyDictionary<string, string> global) : Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptionsProvider
{
    private static readonly Options None = new(new Dictionary<string, string>());

    public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GlobalOptions { get; } = new Options(global);

    public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GetOptions(SyntaxTree tree) => None;

    public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GetOptions(AdditionalText textFile) => None;

    private sealed class Options(IReadOnlyDictionary<string, string> values) : Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}

/// <summary>What one generator run produced.</summary>
internal sealed record GeneratorRun(
    ImmutableArray<Diagnostic> Diagnostics,
    ImmutableArray<GeneratedSourceResult> Sources,
    Compilation Output,
    GeneratorDriver Driver)
{
    public IEnumerable<Diagnostic> HwdefDiagnostics => Diagnostics.Where(d => d.Id.StartsWith("HWDEF", StringComparison.Ordinal));

    /// <summary>Compiler errors in the compilation that includes the generated code.</summary>
    public IEnumerable<Diagnostic> CompileErrors =>
        Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error || (d.Severity == DiagnosticSeverity.Warning && d.WarningLevel <= 4));

    public string Source(string hintStart) =>
        Sources.Single(s => s.HintName.StartsWith(hintStart, StringComparison.Ordinal)).SourceText.ToString();

    /// <summary>Emits the compilation and loads it in a collectible context.</summary>
    public Assembly Load()
    {
        using var image = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult result = Output.Emit(image);
        if (!result.Success)
        {
            throw new InvalidOperationException("Generated code does not compile:\n" + string.Join("\n", result.Diagnostics));
        }

        image.Position = 0;
        return new AssemblyLoadContext("hwdef-test", isCollectible: true).LoadFromStream(image);
    }
}

internal static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(System.IO.Path.PathSeparator)
            .Where(path => System.IO.Path.GetFileName(path).StartsWith("System", StringComparison.Ordinal)
                || System.IO.Path.GetFileName(path) is "netstandard.dll" or "mscorlib.dll")
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToImmutableArray());

    // One base compilation: compilations derived from it share its resolved references, which
    // makes the many small compilations of these tests (and of every mutant) several times cheaper.
    private static readonly Lazy<CSharpCompilation> Base = new(() =>
        CSharpCompilation.Create(
            "HwdefTest",
            [],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)));

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static CSharpCompilation Compilation(params string[] sources) =>
        Base.Value.AddSyntaxTrees(sources.Select(s => CSharpSyntaxTree.ParseText(s, ParseOptions)));

    public static GeneratorDriver Driver(bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            new[] { new HwdefGenerator().AsSourceGenerator() },
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator over one hwdef text (at "test.hwdef") plus optional C# code.</summary>
    public static GeneratorRun Run(string hwdef, params string[] code) => Run(new[] { ("test.hwdef", hwdef) }, code);

    public static GeneratorRun Run((string Path, string Text)[] files, params string[] code) => Run(Driver(), files, code);

    /// <summary>Runs the generator as MSBuild would for a project in <paramref name="projectDir"/> (build_property.ProjectDir).</summary>
    public static GeneratorRun RunInProject(string projectDir, (string Path, string Text)[] files) =>
        Run(
            CSharpGeneratorDriver.Create(
                new[] { new HwdefGenerator().AsSourceGenerator() },
                optionsProvider: new ProjectOptions(new Dictionary<string, string> { ["build_property.ProjectDir"] = projectDir })),
            files);

    private static GeneratorRun Run(GeneratorDriver start, (string Path, string Text)[] files, params string[] code)
    {
        GeneratorDriver driver = start.AddAdditionalTexts(files.Select(f => (AdditionalText)new HwdefText(f.Path, f.Text)).ToImmutableArray());
        driver = driver.RunGeneratorsAndUpdateCompilation(Compilation(code), out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        GeneratorDriverRunResult result = driver.GetRunResult();
        return new GeneratorRun(diagnostics, result.Results.Single().GeneratedSources, output, driver);
    }

    /// <summary>"HWDEF002@12:3" for every hwdef diagnostic (1-based line and column), in order.</summary>
    public static string[] Located(GeneratorRun run) =>
        run.HwdefDiagnostics
            .Select(d =>
            {
                FileLinePositionSpan span = d.Location.GetLineSpan();
                return d.Id + "@" + (span.StartLinePosition.Line + 1) + ":" + (span.StartLinePosition.Character + 1);
            })
            .ToArray();

    /// <summary>Compiles the generated code with the given program and calls its static string Run().</summary>
    public static string Execute(string hwdef, string body)
    {
        string program = "using System;\npublic static class Probe\n{\n    public static string Run()\n    {\n" + body + "\n    }\n}\n";
        GeneratorRun run = Run(hwdef, program);
        run.HwdefDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ShouldBeEmpty();
        Assembly assembly = run.Load();
        return (string)assembly.GetType("Probe")!.GetMethod("Run")!.Invoke(null, null)!;
    }
}
