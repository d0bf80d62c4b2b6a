using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace Driver.Generators.Tests;

/// <summary>
/// The exact text the generator emits and reports, compared with files beside this one. After an
/// intended change, run the tests with HWDEF_UPDATE_SNAPSHOTS=1 and review the diff of the files.
/// </summary>
public sealed class SnapshotTests
{
    private static string Folder([CallerFilePath] string path = "") => Path.Combine(Path.GetDirectoryName(path)!, "Snapshots");

    private static void Match(string name, string actual)
    {
        string path = Path.Combine(Folder(), name);
        if (Environment.GetEnvironmentVariable("HWDEF_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
        }

        File.Exists(path).ShouldBeTrue("missing snapshot " + path + "; run with HWDEF_UPDATE_SNAPSHOTS=1");
        actual.ShouldBe(File.ReadAllText(path));
    }

    [Fact]
    public void Emitted_code_matches_the_snapshot()
    {
        GeneratorRun run = GeneratorHarness.Run(new[] { ("Snapshots/sample.hwdef", File.ReadAllText(Path.Combine(Folder(), "sample.hwdef"))) });
        run.Diagnostics.ShouldBeEmpty();
        run.CompileErrors.ShouldBeEmpty();
        run.Sources.Select(s => s.HintName).ShouldBe(new[] { "Hwdef.Runtime.g.cs", "Hwdef.Catalog.g.cs", "sample.1ad64c13.g.cs" }, ignoreOrder: true);
        Match("sample.g.cs.expected", run.Source("sample."));
        Match("Hwdef.Runtime.g.cs.expected", run.Source("Hwdef.Runtime"));
        Match("Hwdef.Catalog.g.cs.expected", run.Source("Hwdef.Catalog"));
    }

    /// <summary>Every case of <see cref="DiagnosticTests"/>, with the full message and span of each diagnostic.</summary>
    [Fact]
    public void Diagnostic_messages_match_the_snapshot()
    {
        var report = new StringBuilder();
        foreach (MethodInfo method in typeof(DiagnosticTests).GetMethods().OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            foreach (InlineDataAttribute data in method.GetCustomAttributes<InlineDataAttribute>())
            {
                string body = (string)data.GetData(method).Single()[0];
                string text = "namespace T.Hw\n" + body + (method.Name.StartsWith("Block", StringComparison.Ordinal) ? DiagnosticTests.BlockRegisters : string.Empty);
                report.Append("== ").Append(method.Name).Append(": ").Append(body.Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
                foreach (Microsoft.CodeAnalysis.Diagnostic diagnostic in GeneratorHarness.Run(text).HwdefDiagnostics)
                {
                    Microsoft.CodeAnalysis.FileLinePositionSpan span = diagnostic.Location.GetLineSpan();
                    report.Append(diagnostic.Id).Append(' ').Append(diagnostic.Severity).Append(' ')
                        .Append(span.StartLinePosition).Append('-').Append(span.EndLinePosition).Append(' ')
                        .Append(diagnostic.Location.SourceSpan).Append(": ").Append(diagnostic.GetMessage()).Append('\n');
                }
            }
        }

        Match("diagnostics.expected", report.ToString());
    }
}
