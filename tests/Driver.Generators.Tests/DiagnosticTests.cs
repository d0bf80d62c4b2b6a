using Microsoft.CodeAnalysis;

namespace Driver.Generators.Tests;

/// <summary>Every diagnostic of docs/hwdef-format.md, located at file, line and column (1-based here).</summary>
public sealed class DiagnosticTests
{
    /// <summary>The located diagnostics; the code emitted for the rest of the file must still compile.</summary>
    private static string[] Diagnose(string hwdef)
    {
        GeneratorRun run = GeneratorHarness.Run(hwdef);
        run.CompileErrors.ShouldBeEmpty();
        return GeneratorHarness.Located(run);
    }

    private const string Head = "namespace T.Hw\n";

    /// <summary>Register layouts the block cases use, declared after the block.</summary>
    internal const string BlockRegisters = "layout R : 64\n  63:0 ign\nend\nlayout Q : 32\n  31:0 ign\nend\nlayout S : 16\n  15:0 ign\nend\n";

    [Theory]
    [InlineData("layout L : 8\n  7:0 F u\n  3 G\nend\n", "HWDEF001@4:3")]
    [InlineData("layout L : 8\n  7:0 F u\n  reset 0xZZ\nend\n", "HWDEF001@4:9")]
    [InlineData("layout L : 8\n  7:0 F u \"unterminated\nend\n", "HWDEF001@3:11")]
    [InlineData("layout L : 8\n  7:0 F u rx\nend\n", "HWDEF001@3:11")]
    [InlineData("layout L : 8\n  7:0 F u\n  3:x ign\nend\n", "HWDEF001@4:3")]
    [InlineData("layout L : 8\n  7:0 F u\n  9_ ign\nend\n", "HWDEF001@4:3")]
    [InlineData("layout L : 8\n  7:0 F u\n  3 ign extra\nend\n", "HWDEF001@4:5")]
    [InlineData("layout L : 8\n  7:0 F u\n  3 res0 bool\nend\n", "HWDEF001@4:5")]
    [InlineData("layout L : 8\n  7:0 F addr@q\nend\n", "HWDEF001@3:9")]
    [InlineData("layout L : 0x\n  7:0 F u\nend\n", "HWDEF001@2:12")]
    [InlineData("layout 9L : 8\n  7:0 F u\nend\n", "HWDEF001@2:1")]
    [InlineData("frobnicate\n", "HWDEF001@2:1")]
    [InlineData("end\n", "HWDEF001@2:1")]
    [InlineData("\"just a doc\"\n", "HWDEF001@2:1")]
    [InlineData("layout L : 8 \"a\" \"b\"\n  7:0 F u\nend\n", "HWDEF001@2:14")]
    [InlineData("enum E : 2\n  1\nend\n", "HWDEF001@3:3")]
    [InlineData("enum E : 2\n  x One\nend\n", "HWDEF001@3:3")]
    [InlineData("enum E : 2\n  1 9x\nend\n", "HWDEF001@3:5")]
    [InlineData("layout L : 8\n  7:0 F u\nend extra\n", "HWDEF001@4:1")]
    [InlineData("layout L : 8\n  7:0 9F u\nend\n", "HWDEF001@3:7")]
    [InlineData("layout L : 8\n  7:0 F u\n  reset\nend\n", "HWDEF001@4:3")]
    public void Syntax_errors_are_HWDEF001(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Fact]
    public void Overlaps_are_reported_at_the_later_line()
    {
        Diagnose(Head + "layout L : 8\n  3:0 A u\n  4:2 B u\n  7:4 ign\nend\n").ShouldBe(new[] { "HWDEF002@4:3" });
        Diagnose(Head + "layout L : 8\n  3:0 res0\n  7:3 ign\nend\n").ShouldBe(new[] { "HWDEF002@4:3" });
        Diagnose(Head + "layout L : 8\n  3:0,2:1 A u @0\n  7:4 ign\nend\n".Replace(" @0", string.Empty)).ShouldBe(new[] { "HWDEF002@3:3" });
    }

    [Theory]
    [InlineData("layout L : 8\n  8 A bool\n  7:0 ign\nend\n", "HWDEF003@3:3")]
    [InlineData("layout L : 8\n  2:5 A u\n  7:0 ign\nend\n", "HWDEF003@3:3")]
    [InlineData("layout L : 24\n  7:0 A u\nend\n", "HWDEF003@2:12")]
    [InlineData("layout L : 1056\n  7:0 A u\nend\n", "HWDEF003@2:12")]
    [InlineData("layout L : 80\n  7:0 A u\nend\n", "HWDEF003@2:12")]
    [InlineData("layout L : 48\n  7:0 A u\nend\n", "HWDEF003@2:12")]
    [InlineData("enum E : 65\nend\n", "HWDEF003@2:10")]
    [InlineData("enum E : 0\nend\n", "HWDEF003@2:10")]
    [InlineData("layout L : 128\n  200:190 A u\n  127:0 ign\nend\n", "HWDEF003@3:3")]
    public void Bits_outside_and_unsupported_widths_are_HWDEF003(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Theory]
    [InlineData("layout L : 8\n  1:0 A Nope\n  7:2 ign\nend\n", "HWDEF004@3:9")]
    [InlineData("layout L : 8\n  1:0 A u8\n  7:2 ign\nend\n", "HWDEF004@3:9")]
    [InlineData("layout L : 8\n  1:0 A 9u\n  7:2 ign\nend\n", "HWDEF004@3:9")]
    [InlineData("layout M : 8\n  7:0 ign\nend\nlayout L : 8\n  7:0 A M\nend\n", "HWDEF004@6:9")]
    [InlineData("layout R : 32\n  31:0 ign\nend\nblock B : 8\n  0 X Missing\nend\n", "HWDEF004@6:7")]
    [InlineData("enum E : 1\nend\nblock B : 8\n  0 X E\nend\n", "HWDEF004@5:7")]
    [InlineData("block B : 8\nend\nlayout L : 8\n  0 A B\n  7:1 ign\nend\n", "HWDEF004@5:7")]
    public void Unknown_types_are_HWDEF004(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Theory]
    [InlineData("layout L : 8\n  0 A bool\n  1 A bool\n  7:2 ign\nend\n", "HWDEF005@4:5")]
    [InlineData("layout L : 8\n  0 Raw bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 IsValid bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 Reset bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 Bits bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 Words bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 L bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 AShift bool\n  1 A bool\n  7:2 ign\nend\n", "HWDEF005@4:5")]
    [InlineData("layout L : 8\n  0 A bool\n  1 WithA bool\n  7:2 ign\nend\n", "HWDEF005@4:5")]
    [InlineData("layout L : 8\n  7:0 ign\nend\nlayout L : 8\n  7:0 ign\nend\n", "HWDEF005@5:8")]
    [InlineData("enum E : 2\n  0 A\n  1 A\nend\n", "HWDEF005@4:5")]
    [InlineData("enum E : 2\n  0 E\nend\n", "HWDEF005@3:5")]
    [InlineData("enum E : 1\nend\nlayout E : 8\n  7:0 ign\nend\n", "HWDEF005@4:8")]
    [InlineData("block B : 8\nend\nblock B : 8\nend\n", "HWDEF005@4:7")]
    [InlineData("block B : 8\nend\nlayout B : 8\n  7:0 ign\nend\n", "HWDEF005@4:8")]
    [InlineData("layout B : 8\n  7:0 ign\nend\nenum B : 1\nend\n", "HWDEF005@5:6")]
    [InlineData("layout R : 32\n  31:0 ign\nend\nblock B : 16\n  0 X R\n  4 X R\nend\n", "HWDEF005@7:5")]
    [InlineData("layout L : 8\n  7:0 F u\n  reset 1\n  reset 2\nend\n", "HWDEF005@5:3")]
    public void Duplicate_names_are_HWDEF005(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Theory]
    [InlineData("enum E : 2\n  4 Four\nend\n", "HWDEF006@3:3")]
    [InlineData("layout L : 8\n  7:0 F u\n  reset 0x100\nend\n", "HWDEF006@4:9")]
    [InlineData("layout L : 128\n  127:0 ign\n  reset 0\nend\n", "HWDEF006@4:9")]
    public void Values_that_do_not_fit_are_HWDEF006(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Theory]
    [InlineData("layout L : 8\n  1:0 A bool\n  7:2 ign\nend\n", "HWDEF007@3:9")]
    [InlineData("enum E : 3\nend\nlayout L : 8\n  1:0 A E\n  7:2 ign\nend\n", "HWDEF007@5:9")]
    [InlineData("layout L : 64\n  3:0,7:4 A addr\n  63:8 ign\nend\n", "HWDEF007@3:13")]
    [InlineData("layout L : 64\n  63:12 A addr@13\n  11:0 ign\nend\n", "HWDEF007@3:11")]
    [InlineData("layout L : 128\n  127:64 A addr\n  63:0 ign\nend\n", "HWDEF007@3:12")]
    [InlineData("layout L : 128\n  127:63 A u\n  62:0 ign\nend\n", "HWDEF007@3:12")]
    public void Types_that_do_not_fit_are_HWDEF007(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Theory]
    [InlineData("block B : 16\n  0 X R\n  4 Y R\nend\n", "HWDEF008@4:3")]
    [InlineData("block B : 16\n  2 X R\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 16\n  16 X R\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 14\n  12 X Q\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 16\n  0 X S\nend\n", "HWDEF008@3:7")]
    [InlineData("block B : 64\n  0 X R[4] 4\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 64\n  0 X R[0] 8\nend\n", "HWDEF008@3:7")]
    [InlineData("block B : 64\n  0 X R[4097] 8\nend\n", "HWDEF008@3:7")]
    [InlineData("block B : 32\n  0 X R[5] 8\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 0\nend\n", "HWDEF008@2:11")]
    [InlineData("block B : 64\n  0 X R[2] 0x8000000000000000\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 64\n  0 X R[3] 0x8000000000000000\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 0x20\n  0x10 X R[2] 8\n  0x8 Y R[2] 8\nend\n", "HWDEF008@4:3")]
    [InlineData("block B : 0x40\n  0x10 X R[2] 0xFFFFFFFFFFFFFFF8\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 0x40\n  0x1C X R\nend\n", "HWDEF008@3:3")]
    [InlineData("block B : 0x20\n  0x8 X R[2] 16\n  0x10 Y Q\n  0x1C Z Q\nend\n", "HWDEF008@5:3")]
    public void Block_errors_are_HWDEF008(string body, string expected)
    {
        Diagnose(Head + body + BlockRegisters).ShouldBe(new[] { expected });
    }

    [Theory]
    [InlineData("block B : 16\n  0 X\nend\n", "HWDEF001@3:3")]
    [InlineData("block B : 16\n  zz X R\nend\n", "HWDEF001@3:3")]
    [InlineData("block B : 16\n  0 9X R\nend\n", "HWDEF001@3:5")]
    [InlineData("block B : 64\n  0 X R[4\nend\n", "HWDEF001@3:7")]
    [InlineData("block B : 64\n  0 X R[4]\nend\n", "HWDEF001@3:7")]
    [InlineData("block B : 64\n  0 X R[4] q\nend\n", "HWDEF001@3:12")]
    [InlineData("block B : 64\n  0 X R 8\nend\n", "HWDEF001@3:9")]
    [InlineData("block B : 64\n  0 X 9R\nend\n", "HWDEF001@3:7")]
    [InlineData("block B : 64\n  0 X R[x] 8\nend\n", "HWDEF001@3:7")]
    public void Block_syntax_errors_are_HWDEF001(string body, string expected)
    {
        Diagnose(Head + body + BlockRegisters).ShouldBe(new[] { expected });
    }

    [Theory]
    [InlineData("layout L : 8\n  0 A bool\n  1 AMask bool\n  7:2 ign\nend\n", "HWDEF005@4:5")]
    [InlineData("layout L : 8\n  0 Equals bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("layout L : 8\n  0 __w0 bool\n  7:1 ign\nend\n", "HWDEF005@3:5")]
    [InlineData("enum E : 2\n  0 value__\nend\n", "HWDEF005@3:5")]
    [InlineData("block BOffset : 64\n  0 B R\nend\n", "HWDEF005@3:5")]
    [InlineData("block XCount : 64\n  0 X R[2] 8\nend\n", "HWDEF005@3:5")]
    [InlineData("block XStride : 64\n  0 X R[2] 8\nend\n", "HWDEF005@3:5")]
    [InlineData("block XOffsetOf : 64\n  0 X R[2] 8\nend\n", "HWDEF005@3:5")]
    public void Block_and_member_names_that_clash_are_HWDEF005(string body, string expected)
    {
        Diagnose(Head + body + BlockRegisters).ShouldBe(new[] { expected });
    }

    [Fact]
    public void Uncovered_bits_are_a_warning_at_the_layout_and_code_is_still_emitted()
    {
        GeneratorRun run = GeneratorHarness.Run(Head + "layout L : 16\n  3:0 A u\n  9:8 ign\nend\n");
        GeneratorHarness.Located(run).ShouldBe(new[] { "HWDEF009@2:8" });
        Diagnostic warning = run.HwdefDiagnostics.Single();
        warning.Severity.ShouldBe(DiagnosticSeverity.Warning);
        warning.GetMessage().ShouldContain("7:4, 15:10");
        run.Source("test.").ShouldContain("public readonly partial struct L");
        run.CompileErrors.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("layout L : 8\n  7:0 ign\n", "HWDEF010@2:8")]
    [InlineData("layout L : 8\n  7:0 ign\nlayout M : 8\n  7:0 ign\nend\n", "HWDEF010@2:8")]
    [InlineData("enum E : 1\n  0 A\nblock B : 8\nend\n", "HWDEF010@2:6")]
    [InlineData("namespace T.Other\n", "HWDEF010@2:1")]
    public void Structure_errors_are_HWDEF010(string body, string expected) => Diagnose(Head + body).ShouldBe(new[] { expected });

    [Fact]
    public void A_missing_namespace_is_reported_at_line_1()
    {
        Diagnose("layout L : 8\n  7:0 ign\nend\n").ShouldBe(new[] { "HWDEF010@1:1" });
        Diagnose(string.Empty).ShouldBe(new[] { "HWDEF010@1:1" });
        Diagnose("layout L : 8\n  7:0 ign\nend\nnamespace T.Late\n").ShouldBe(new[] { "HWDEF010@4:1" });
        Diagnose("namespace 9bad\n").ShouldBe(new[] { "HWDEF001@1:1" });
    }

    [Fact]
    public void Several_mistakes_give_one_located_diagnostic_each_and_no_crash()
    {
        const string hwdef = """
            namespace T.Hw
            enum Mode : 2
              5 TooBig
            end
            layout L : 64
              0 A bool
              0 B bool
              3:1 C bool
              7:4 D Unknown
              70:8 E u
            end
            layout L : 8
              7:0 ign
            end
            block B : 8
              4 R L
            end
            layout Unterminated : 8
              7:0 ign
            """;
        GeneratorRun run = GeneratorHarness.Run(hwdef);
        GeneratorHarness.Located(run).ShouldBe(new[]
        {
            "HWDEF006@3:3", "HWDEF002@7:3", "HWDEF007@8:9", "HWDEF004@9:9", "HWDEF003@10:3", "HWDEF005@12:8", "HWDEF008@16:3", "HWDEF010@18:8",
        });
        run.Diagnostics.Where(d => d.Id.StartsWith("CS", StringComparison.Ordinal)).ShouldBeEmpty();
    }

    [Fact]
    public void Diagnostics_carry_the_file_path_and_a_real_span()
    {
        GeneratorRun run = GeneratorHarness.Run(new[] { ("hwdefs/x.hwdef", Head + "layout L : 8\n  9 A bool\n  7:0 ign\nend\n") });
        Diagnostic diagnostic = run.HwdefDiagnostics.Single();
        diagnostic.Location.IsInSource.ShouldBeFalse();
        diagnostic.Location.Kind.ShouldBe(LocationKind.ExternalFile);
        FileLinePositionSpan span = diagnostic.Location.GetLineSpan();
        span.Path.ShouldBe("hwdefs/x.hwdef");
        span.StartLinePosition.ShouldBe(new Microsoft.CodeAnalysis.Text.LinePosition(2, 2));
        span.EndLinePosition.ShouldBe(new Microsoft.CodeAnalysis.Text.LinePosition(2, 3));
        diagnostic.Location.SourceSpan.Start.ShouldBe(Head.Length + "layout L : 8\n".Length + 2);
        diagnostic.ToString().ShouldStartWith("hwdefs/x.hwdef(3,3): error HWDEF003: Bit 9 is outside the 8-bit layout 'L'");
    }

    [Fact]
    public void A_nameless_declaration_does_not_shift_which_duplicate_is_reported()
    {
        Diagnose(Head + "layout 9 : 8\n  7:0 ign\nend\nlayout L : 8\n  7:0 ign\nend\nlayout L : 8\n  7:0 ign\nend\n")
            .ShouldBe(new[] { "HWDEF001@2:1", "HWDEF005@8:8" });
    }

    [Fact]
    public void Diagnostics_at_the_same_place_are_ordered_by_id()
    {
        Diagnose(Head + "layout L : 8\n  7:0 ign\nend\nlayout L : 8\n  7:0 ign\n").ShouldBe(new[] { "HWDEF005@5:8", "HWDEF010@5:8" });
    }

    [Fact]
    public void A_file_whose_declarations_all_have_errors_emits_nothing()
    {
        GeneratorRun run = GeneratorHarness.Run(Head + "layout L : 8\n  9 A bool\n  7:0 ign\nend\n");
        run.Sources.Select(s => s.HintName).ShouldBe(new[] { "Hwdef.Runtime.g.cs", "Hwdef.Catalog.g.cs" }, ignoreOrder: true);
        run.Source("Hwdef.Catalog").ShouldNotContain("Layouts_");
    }

    [Fact]
    public void The_first_declaration_of_a_duplicated_enum_is_the_one_fields_use()
    {
        GeneratorRun run = GeneratorHarness.Run(new[]
        {
            ("c.hwdef", Head + "layout L : 8\n  1:0 M Mode\n  7:2 ign\nend\n"),
            ("b.hwdef", Head + "enum Mode : 3\nend\n"),
            ("a.hwdef", Head + "enum Mode : 2\nend\n"),
        });
        run.HwdefDiagnostics.Select(d => d.Id + " " + d.Location.GetLineSpan().Path).ShouldBe(new[] { "HWDEF005 b.hwdef" });
        run.CompileErrors.ShouldBeEmpty();
        run.Source("c.").ShouldContain("public global::T.Hw.Mode M =>");
    }

    [Fact]
    public void Types_with_errors_are_not_emitted_but_good_ones_are()
    {
        GeneratorRun run = GeneratorHarness.Run(Head + "layout Good : 8\n  7:0 ign\nend\nlayout Bad : 8\n  9 A bool\n  7:0 ign\nend\nenum BadEnum : 1\n  2 Two\nend\nlayout UsesBad : 8\n  0 M BadEnum\n  7:1 ign\nend\n");
        string source = run.Source("test.");
        source.ShouldContain("struct Good");
        source.ShouldNotContain("struct Bad");
        source.ShouldNotContain("UsesBad");
        source.ShouldNotContain("enum BadEnum");
        run.CompileErrors.ShouldBeEmpty();
        GeneratorHarness.Located(run).ShouldBe(new[] { "HWDEF003@6:3", "HWDEF006@10:3" });
    }

    [Fact]
    public void A_file_without_namespace_emits_nothing()
    {
        GeneratorRun run = GeneratorHarness.Run("layout L : 8\n  7:0 ign\nend\n");
        run.Sources.Select(s => s.HintName).ShouldBe(new[] { "Hwdef.Runtime.g.cs", "Hwdef.Catalog.g.cs" }, ignoreOrder: true);
        run.Source("Hwdef.Catalog").ShouldNotContain("Layouts_");
    }

    [Fact]
    public void Duplicate_types_across_files_are_reported_in_the_later_file()
    {
        GeneratorRun run = GeneratorHarness.Run(new[]
        {
            ("b.hwdef", Head + "layout L : 8\n  7:0 ign\nend\n"),
            ("a.hwdef", Head + "layout L : 8\n  7:0 ign\nend\n"),
            ("c.hwdef", "namespace T.Other\nlayout L : 8\n  7:0 ign\nend\n"),
        });
        run.HwdefDiagnostics.Single().GetMessage().ShouldContain("in a.hwdef");
        run.HwdefDiagnostics.Single().Location.GetLineSpan().Path.ShouldBe("b.hwdef");
        run.CompileErrors.ShouldBeEmpty();
    }
}
