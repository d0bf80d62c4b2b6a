using System.Globalization;
using System.Text.RegularExpressions;
using Driver.Generators.Parsing;
using Shouldly;
using Xunit;

namespace Driver.Cli.Tests;

/// <summary>
/// The command line reads numbers with the hwdef lexer's own grammar, and encodes and decodes
/// every field of every layout through the catalog's typed setters.
/// </summary>
public sealed partial class NumberAndCatalogTests
{
    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = DriverCommand.Run(args, output, error);
        return (code, output.ToString().TrimEnd('\n'), error.ToString().TrimEnd('\n'));
    }

    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("12", 12UL)]
    [InlineData("09", 9UL)]
    [InlineData("0x1F", 31UL)]
    [InlineData("0X1f", 31UL)]
    [InlineData("0b101", 5UL)]
    [InlineData("0B11", 3UL)]
    [InlineData("1_000", 1000UL)]
    [InlineData("0xFFFF_FFFF_FFFF_FFFF", ulong.MaxValue)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("0b1111111111111111111111111111111111111111111111111111111111111111", ulong.MaxValue)]
    public void Numbers_the_lexer_accepts_are_accepted(string text, ulong expected)
    {
        NumberParser.Parse(text, "test").ShouldBe(expected);
        HwdefNumber.TryParse(text, out ulong lexed).ShouldBeTrue();
        lexed.ShouldBe(expected);
        Run("encode", "AmdDte", "DomainId=" + text).Code.ShouldBe(expected <= 0xFFFF ? 0 : 2);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("0b")]
    [InlineData("_1")]
    [InlineData("1_")]
    [InlineData("1__0")]
    [InlineData("0x_1")]
    [InlineData("0b2")]
    [InlineData("0xG")]
    [InlineData("12a")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData(" 1")]
    [InlineData("18446744073709551616")]
    [InlineData("0x1_0000_0000_0000_0000")]
    [InlineData("0b11111111111111111111111111111111111111111111111111111111111111111")]
    public void Numbers_the_lexer_refuses_are_refused(string text)
    {
        HwdefNumber.TryParse(text, out _).ShouldBeFalse();
        Should.Throw<UsageException>(() => NumberParser.Parse(text, "word 0")).Message
            .ShouldBe("'" + text + "' is not a number (word 0); use decimal, 0x hex or 0b binary");
    }

    [Fact]
    public void An_enum_number_wider_than_the_field_is_refused_not_wrapped()
    {
        (int code, string output, string error) = Run("encode", "AmdDte", "Mode=256");
        code.ShouldBe(2);
        output.ShouldBeEmpty();
        error.ShouldBe("driver: '256' does not fit AmdDte.Mode (11:9, PagingMode)");
        Run("encode", "AmdDte", "Mode=0x6").Output.ShouldStartWith("0x0000000000000c00 ");
    }

    [GeneratedRegex(@"^  (?<range>\S+)\s+(?<name>\S+)\s+(?<type>\S+)")]
    private static partial Regex FieldLine();

    /// <summary>Every field of every listed layout, set to its largest value alone, decodes back to that value.</summary>
    [Fact]
    public void Every_field_of_every_layout_encodes_and_decodes_its_largest_value()
    {
        string layout = string.Empty;
        int checkedFields = 0;
        foreach (string line in Run("hwdefs").Output.Split('\n'))
        {
            if (!line.StartsWith(' '))
            {
                layout = line[..line.IndexOf(' ', StringComparison.Ordinal)];
                continue;
            }

            Match field = FieldLine().Match(line);
            string name = field.Groups["name"].Value;
            string type = field.Groups["type"].Value;
            string[] pieces = field.Groups["range"].Value.Split(',');
            int width = pieces.Sum(p => Bit(p, high: true) - Bit(p, high: false) + 1);
            (string value, string shown) = type switch
            {
                "bool" => ("true", "true"),
                "u" => (Hex(Ones(width)), Hex(Ones(width))),
                "addr" => (Hex(Ones(width) << Bit(pieces[0], high: false)), Hex(Ones(width) << Bit(pieces[0], high: false))),
                _ when type.StartsWith("addr@", StringComparison.Ordinal) => (Hex(Ones(width) << int.Parse(type[5..], CultureInfo.InvariantCulture)), Hex(Ones(width) << int.Parse(type[5..], CultureInfo.InvariantCulture))),
                _ => ("0", string.Empty),
            };

            (int code, string words, string error) = Run("encode", layout, name + "=" + value);
            error.ShouldBeEmpty(layout + "." + name);
            code.ShouldBe(0);
            (int decodeCode, string decoded, _) = Run(new[] { "decode", layout }.Concat(words.Split(' ')).ToArray());
            decodeCode.ShouldBe(0);
            decoded.ShouldContain(" " + name + " = " + shown, Case.Sensitive, layout + " " + words);
            checkedFields++;
        }

        checkedFields.ShouldBeGreaterThan(100);
    }

    private static ulong Ones(int width) => width >= 64 ? ulong.MaxValue : (1UL << width) - 1;

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    private static int Bit(string piece, bool high)
    {
        string[] ends = piece.Split(':');
        return int.Parse(high || ends.Length == 1 ? ends[0] : ends[1], CultureInfo.InvariantCulture);
    }
}
