namespace Driver.Generators.Tests;

/// <summary>
/// A declaration with an error of its own still takes part in the checks of what uses it, and
/// one bad line of a declaration does not stop its other lines from being checked: every
/// mistake of a file is reported in one build, and nothing is reported that is not a mistake.
/// </summary>
public sealed class OneMistakeHidesNoOtherTests
{
    private const string Head = "namespace T.Hw\n";

    private static string[] Diagnose(string body)
    {
        GeneratorRun run = GeneratorHarness.Run(Head + body + DiagnosticTests.BlockRegisters);
        run.CompileErrors.ShouldBeEmpty();
        return GeneratorHarness.Located(run);
    }

    [Theory]
    [InlineData("layout P 64\n  63:0 ign\nend\nblock B : 16\n  0 X P\nend\n", new[] { "HWDEF001@2:1" })]
    [InlineData("layout P : 24\n  23:0 ign\nend\nblock B : 16\n  0 X P\nend\n", new[] { "HWDEF003@2:12" })]
    [InlineData("layout P : 0x\n  63:0 ign\nend\nblock B : 16\n  0 X P\nend\n", new[] { "HWDEF001@2:12" })]
    [InlineData("layout P : 64\n  0 A Nope\n  63:1 ign\nend\nblock B : 16\n  2 X P\nend\n", new[] { "HWDEF004@3:7", "HWDEF008@7:3" })]
    [InlineData("layout P : 64\n  63:0 ign\nblock B : 16\n  0 X P\n  4 Y P\nend\n", new[] { "HWDEF010@2:8", "HWDEF008@6:3" })]
    public void A_register_layout_with_its_own_error_is_still_known_to_the_block(string body, string[] expected) =>
        Diagnose(body).ShouldBe(expected);

    [Theory]
    [InlineData("layout L : 8\n  1:0 A bool\n  5:2 B u\nend\n", new[] { "HWDEF009@2:8", "HWDEF007@3:9" })]
    [InlineData("layout L : 8\n  1:0 A bool\n  7:2 A u\nend\n", new[] { "HWDEF007@3:9", "HWDEF005@4:7" })]
    [InlineData("layout L : 8\n  1:0 A Nope\n  7:2 AMask u\nend\n", new[] { "HWDEF004@3:9", "HWDEF005@4:7" })]
    [InlineData("layout L : 8\n  9:8 M Nope\n  7:0 ign\nend\n", new[] { "HWDEF003@3:3", "HWDEF004@3:9" })]
    [InlineData("enum E : 2\n  1 One\nend\nlayout L : 8\n  10:8 M E\n  7:0 ign\nend\n", new[] { "HWDEF003@6:3", "HWDEF007@6:10" })]
    [InlineData("layout L : 8\n  1:0 A bool rx\n  7:2 ign\nend\n", new[] { "HWDEF007@3:9", "HWDEF001@3:14" })]
    [InlineData("layout L : 8\n  1:0 A u rx\n  7:1 ign\nend\n", new[] { "HWDEF001@3:11", "HWDEF002@4:3" })]
    [InlineData("layout L : 8\n  2:5 A bool\n  7:0 ign\nend\n", new[] { "HWDEF003@3:3" })]
    [InlineData("layout L : 8\n  3:0 A u \"open\n  7:4 B u\nend\n", new[] { "HWDEF001@3:11" })]
    [InlineData("layout L : 24\n  1:0 A bool\n  3:2 A u\nend\n", new[] { "HWDEF003@2:12", "HWDEF007@3:9", "HWDEF005@4:7" })]
    public void One_bad_field_does_not_stop_the_other_fields_being_checked(string body, string[] expected) =>
        Diagnose(body).ShouldBe(expected);

    [Theory]
    [InlineData("enum E : 2\n  4 Four\n  1 One\nend\nlayout L : 8\n  1:0 M E\n  7:2 ign\nend\n", new[] { "HWDEF006@3:3" })]
    [InlineData("enum E : 2\n  4 Four\nend\nlayout L : 8\n  2:0 M E\n  7:3 ign\nend\n", new[] { "HWDEF006@3:3", "HWDEF007@6:9" })]
    [InlineData("enum E : 2\n  4 A\n  1 A\nend\n", new[] { "HWDEF006@3:3", "HWDEF005@4:5" })]
    [InlineData("enum E 2\n  1 One\nend\nlayout L : 8\n  1:0 M E\n  7:2 ign\nend\n", new[] { "HWDEF001@2:1" })]
    [InlineData("enum E : 65\nend\nlayout L : 8\n  1:0 M E\n  7:2 ign\nend\n", new[] { "HWDEF003@2:10" })]
    [InlineData("enum E : 2\n  1 One\nlayout L : 8\n  1:0 M E\n  7:2 ign\nend\n", new[] { "HWDEF010@2:6" })]
    public void An_enum_with_its_own_error_still_resolves_for_the_fields_that_use_it(string body, string[] expected) =>
        Diagnose(body).ShouldBe(expected);

    [Theory]
    [InlineData("block B : 0\n  0 X R\n  4 Y R\n  2 Z Q\nend\n", new[] { "HWDEF008@2:11", "HWDEF008@4:3", "HWDEF008@5:3" })]
    [InlineData("block B : 0x\n  0 X R\n  0x100 Y R\nend\n", new[] { "HWDEF001@2:11" })]
    [InlineData("block B 16\n  0 X R\n  4 Y Nope\nend\n", new[] { "HWDEF001@2:1", "HWDEF004@4:7" })]
    public void A_block_with_a_bad_size_still_checks_its_registers(string body, string[] expected) =>
        Diagnose(body).ShouldBe(expected);

    [Fact]
    public void What_uses_a_declaration_with_errors_is_not_emitted_and_the_rest_still_is()
    {
        GeneratorRun run = GeneratorHarness.Run(Head + "enum E : 2\n  4 Four\n  1 One\nend\nlayout L : 8\n  1:0 M E\n  7:2 ign\nend\nlayout Good : 8\n  7:0 V u\nend\n");
        string source = run.Source("test.");
        source.ShouldNotContain("enum E");
        source.ShouldNotContain("struct L");
        source.ShouldContain("struct Good");
        run.CompileErrors.ShouldBeEmpty();
    }
}
