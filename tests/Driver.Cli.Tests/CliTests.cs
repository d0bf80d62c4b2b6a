using Shouldly;
using Xunit;

namespace Driver.Cli.Tests;

/// <summary>The `driver` command as a user types it: output, one-line errors and exit codes.</summary>
public sealed class CliTests
{
    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = DriverCommand.Run(args, output, error);
        return (code, output.ToString().TrimEnd('\n'), error.ToString().TrimEnd('\n'));
    }

    [Fact]
    public void Decode_prints_the_canonical_decoding()
    {
        (int code, string output, string error) = Run("decode", "AmdV1Pte", "0x6000000012345001");
        code.ShouldBe(0);
        error.ShouldBeEmpty();
        output.ShouldBe("AmdV1Pte { Present = true, Accessed = false, Dirty = false, NextLevel = 0x0, Address = 0x12345000, ForceCoherent = false, IoRead = true, IoWrite = true }");
    }

    [Fact]
    public void Decode_accepts_full_names_decimal_binary_and_separators()
    {
        Run("decode", "Driver.Hw.AmdIommu.AmdV1Pte", "7").Output.ShouldContain("Present = true");
        Run("decode", "amdv1pte", "0b100_0000_0001").Output.ShouldContain("NextLevel = 0x2");
        Run("decode", "AmdV1Pte", "0x6000_0000_1234_5001").Output.ShouldContain("Address = 0x12345000");
    }

    [Fact]
    public void Decode_of_a_wide_layout_takes_one_word_per_64_bits()
    {
        (int code, string output, _) = Run("decode", "AmdDte", "0x603", "0x0000000000020000", "0", "0");
        code.ShouldBe(0);
        output.ShouldStartWith("AmdDte { Valid = true, TranslationValid = true,");
        output.ShouldContain("Mode = Level3");
        output.ShouldContain("DomainId = 0x0");
        output.ShouldContain("Gcr3Root = 0x10000");
    }

    [Fact]
    public void Encode_prints_the_raw_words()
    {
        Run("encode", "AmdV1Pte", "Present=true", "Address=0x12345000", "IoRead=1", "IoWrite=true").ShouldBe((0, "0x6000000012345001", string.Empty));
        Run("encode", "AmdDte", "Valid=true", "Mode=Level4", "DomainId=0x1234").Output.ShouldBe("0x0000000000000801 0x0000000000001234 0x0000000000000000 0x0000000000000000");
        Run("encode", "AmdDte", "Mode=6").Output.ShouldStartWith("0x0000000000000c00 ");
        Run("encode", "AmdV1Pte").Output.ShouldBe("0x0000000000000000");
    }

    [Fact]
    public void Encode_and_decode_round_trip()
    {
        string words = Run("encode", "InvalidateIommuPagesCommand", "DomainId=0x42", "Address=0x7ffffffffffff000", "Size=true").Output;
        string[] args = new[] { "decode", "InvalidateIommuPagesCommand" }.Concat(words.Split(' ')).ToArray();
        (int code, string output, _) = Run(args);
        code.ShouldBe(0);
        output.ShouldContain("DomainId = 0x42");
        output.ShouldContain("Address = 0x7ffffffffffff000");
        output.ShouldContain("Size = true");
    }

    [Fact]
    public void Hwdefs_lists_every_layout_with_width_and_fields()
    {
        (int code, string output, _) = Run("hwdefs");
        code.ShouldBe(0);
        output.ShouldContain("Driver.Hw.AmdIommu.AmdV1Pte : 64");
        output.ShouldContain("Driver.Hw.AmdIommu.AmdDte : 256");
        output.ShouldContain("Driver.Hw.Sev.RmpEntry : 128");
        output.ShouldContain("60:58,95:80,127:107  Gcr3Root");
        output.ShouldMatch(@"(?m)^  0\s+EventOverflow\s+bool w1c$");
        output.ShouldMatch(@"(?m)^  51:12\s+Address\s+addr$");
    }

    [Theory]
    [InlineData(new[] { "decode", "Nope", "1" }, "driver: unknown layout 'Nope'; `driver hwdefs` lists them")]
    [InlineData(new[] { "decode", "AmdDte", "1", "2", "3" }, "driver: AmdDte is 256 bits: it takes 4 words, not 3")]
    [InlineData(new[] { "decode", "AmdV1Pte", "1", "2" }, "driver: AmdV1Pte is 64 bits: it takes 1 word, not 2")]
    [InlineData(new[] { "decode", "AmdV1Pte", "0xZZ" }, "driver: '0xZZ' is not a number (word 0); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "decode", "AmdV1Pte", "0x" }, "driver: '0x' is not a number (word 0); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "decode", "AmdV1Pte", "1__0" }, "driver: '1__0' is not a number (word 0); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "decode", "AmdV1Pte", "0b102" }, "driver: '0b102' is not a number (word 0); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "decode", "AmdV1Pte", "18446744073709551616" }, "driver: '18446744073709551616' is not a number (word 0); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "decode", "PspCmdRespRegister", "0x100000000" }, "driver: '0x100000000' does not fit the 32-bit layout PspCmdRespRegister")]
    [InlineData(new[] { "decode", "IommuIoasAlloc", "0xC", "0x100000000" }, "driver: '0x100000000' does not fit the 96-bit layout IommuIoasAlloc")]
    [InlineData(new[] { "encode", "AmdV1Pte", "Bogus=1" }, "driver: AmdV1Pte has no field 'Bogus'; fields: Present, Accessed, Dirty, NextLevel, Address, ForceCoherent, IoRead, IoWrite")]
    [InlineData(new[] { "encode", "AmdV1Pte", "Present" }, "driver: 'Present' is not Field=value")]
    [InlineData(new[] { "encode", "AmdV1Pte", "Present=yes" }, "driver: 'yes' is not a bool for AmdV1Pte.Present; use true or false")]
    [InlineData(new[] { "encode", "AmdV1Pte", "NextLevel=8" }, "driver: '8' does not fit AmdV1Pte.NextLevel (11:9, u)")]
    [InlineData(new[] { "encode", "AmdV1Pte", "NextLevel=256" }, "driver: '256' does not fit AmdV1Pte.NextLevel")]
    [InlineData(new[] { "encode", "AmdV1Pte", "Address=0x12345001" }, "driver: '0x12345001' does not fit AmdV1Pte.Address (51:12, addr)")]
    [InlineData(new[] { "encode", "AmdDte", "Mode=Level9" }, "driver: 'Level9' is neither a member of PagingMode (Disabled, Level1, Level2, Level3, Level4, Level5, Level6) nor a number")]
    [InlineData(new[] { "encode", "AmdDte", "Mode=8" }, "driver: '8' does not fit AmdDte.Mode (11:9, PagingMode)")]
    [InlineData(new[] { "frobnicate" }, "driver: unknown command or argument 'frobnicate'; `driver --help` lists the commands")]
    public void Bad_input_gets_one_line_and_exit_code_2(string[] args, string expected)
    {
        (int code, string output, string error) = Run(args);
        code.ShouldBe(2);
        output.ShouldBeEmpty();
        error.ShouldBe(expected);
    }

    [Fact]
    public void Missing_arguments_are_usage_errors_too()
    {
        Run("decode", "AmdV1Pte").Code.ShouldBe(2);
        Run().Code.ShouldBe(2);
    }
}
