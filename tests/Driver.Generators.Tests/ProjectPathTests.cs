using Driver.Generators.Parsing;

namespace Driver.Generators.Tests;

/// <summary>What is generated depends on the hwdefs and the project, never on where the checkout lives.</summary>
public sealed class ProjectPathTests
{
    private const string Pte = "namespace T.Hw\nenum Mode : 2\n  1 One\nend\nlayout Pte : 64\n  0 P bool\n  2:1 M Mode\n  63:3 ign\nend\n";
    private const string Regs = "namespace T.Hw\nlayout R : 32\n  31:0 V u\nend\nblock B : 0x10\n  0 X R\n  4 Y R[2] 4\nend\n";
    private const string OtherPte = "namespace T.Other\nlayout Pte : 8\n  7:0 ign\nend\n";

    /// <summary>The same project (Driver.Hw-like: hwdefs beside the project folder) in a checkout at <paramref name="root"/>.</summary>
    private static GeneratorRun BuildAt(string root, char separator)
    {
        string Path(string relative) => root + relative.Replace('/', separator);
        return GeneratorHarness.RunInProject(Path("/src/Driver.Hw/"), new[]
        {
            (Path("/src/Driver.Hw/../../hwdefs/amd/pte.hwdef"), Pte),
            (Path("/hwdefs/amd/regs.hwdef"), Regs),
            (Path("/hwdefs/x86/pte.hwdef"), OtherPte),
        });
    }

    [Theory]
    [InlineData("/home/alice/driver", '/', "/tmp/ci/build-17/checkout", '/')]
    [InlineData("C:\\work\\driver", '\\', "D:\\agent\\_work\\3\\s", '\\')]
    [InlineData("/home/alice/driver", '/', "C:\\agent\\s", '\\')]
    public void The_same_project_built_in_two_directories_generates_byte_identical_sources(string first, char firstSeparator, string second, char secondSeparator)
    {
        GeneratorRun a = BuildAt(first, firstSeparator);
        GeneratorRun b = BuildAt(second, secondSeparator);
        a.HwdefDiagnostics.ShouldBeEmpty();
        a.CompileErrors.ShouldBeEmpty();
        a.Sources.Length.ShouldBe(5);
        a.Sources.Select(s => s.HintName).ShouldBe(b.Sources.Select(s => s.HintName));
        for (int i = 0; i < a.Sources.Length; i++)
        {
            byte[] left = System.Text.Encoding.UTF8.GetBytes(a.Sources[i].SourceText.ToString());
            byte[] right = System.Text.Encoding.UTF8.GetBytes(b.Sources[i].SourceText.ToString());
            right.ShouldBe(left, a.Sources[i].HintName);
        }
    }

    [Fact]
    public void Names_come_from_the_project_relative_path_and_diagnostics_keep_the_real_one()
    {
        GeneratorRun run = GeneratorHarness.RunInProject("/r/src/Driver.Hw/", new[] { ("/r/hwdefs/amd/pte.hwdef", Pte + "layout Bad : 8\n  9 A bool\n  7:0 ign\nend\n") });
        run.Sources.Select(s => s.HintName).ShouldContain(HintNames.For("../../hwdefs/amd/pte.hwdef"));
        run.HwdefDiagnostics.Single().Location.GetLineSpan().Path.ShouldBe("/r/hwdefs/amd/pte.hwdef");
    }

    [Fact]
    public void Duplicates_across_files_name_the_earlier_file_by_its_project_path()
    {
        GeneratorRun run = GeneratorHarness.RunInProject("/r/p/", new[]
        {
            ("/r/p/b.hwdef", "namespace T.Hw\nlayout L : 8\n  7:0 ign\nend\n"),
            ("/r/p/sub/a.hwdef", "namespace T.Hw\nlayout L : 8\n  7:0 ign\nend\n"),
        });
        Microsoft.CodeAnalysis.Diagnostic duplicate = run.HwdefDiagnostics.Single();
        duplicate.GetMessage().ShouldContain("(in b.hwdef)");
        duplicate.Location.GetLineSpan().Path.ShouldBe("/r/p/sub/a.hwdef");
    }

    [Theory]
    [InlineData("/r/p/x.hwdef", "/r/p/", "x.hwdef")]
    [InlineData("/r/p/x.hwdef", "/r/p", "x.hwdef")]
    [InlineData("/r/p/sub/x.hwdef", "/r/p/", "sub/x.hwdef")]
    [InlineData("/r/hwdefs/x.hwdef", "/r/src/p/", "../../hwdefs/x.hwdef")]
    [InlineData("/r/src/p/../../hwdefs/./x.hwdef", "/r/src/p/", "../../hwdefs/x.hwdef")]
    [InlineData("/r//p/x.hwdef", "/r/p/", "x.hwdef")]
    [InlineData("C:\\r\\hwdefs\\x.hwdef", "C:\\r\\src\\p\\", "../../hwdefs/x.hwdef")]
    [InlineData("/x.hwdef", "/r/p/", "../../x.hwdef")]
    [InlineData("D:\\r\\x.hwdef", "C:\\r\\", "D:/r/x.hwdef")]
    [InlineData("rel/x.hwdef", "/r/p/", "rel/x.hwdef")]
    [InlineData("/r/p/x.hwdef", "", "/r/p/x.hwdef")]
    [InlineData("/r/p/x.hwdef", null, "/r/p/x.hwdef")]
    [InlineData("/r/p", "/r/p/", "../p")]
    public void Relative_paths(string path, string? projectDir, string expected) => ProjectPath.Relative(path, projectDir).ShouldBe(expected);
}
