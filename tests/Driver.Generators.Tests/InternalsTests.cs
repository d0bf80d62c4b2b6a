using System.Collections.Immutable;
using Driver.Generators.Model;
using Driver.Generators.Parsing;

namespace Driver.Generators.Tests;

/// <summary>The small building blocks of the generator: numbers, identifiers, ranges, hint names, model equality.</summary>
public sealed class InternalsTests
{
    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("12", 12UL)]
    [InlineData("0x1F", 31UL)]
    [InlineData("0X1f", 31UL)]
    [InlineData("0b101", 5UL)]
    [InlineData("0B11", 3UL)]
    [InlineData("1_000", 1000UL)]
    [InlineData("0xFFFF_FFFF_FFFF_FFFF", ulong.MaxValue)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("0b1111111111111111111111111111111111111111111111111111111111111111", ulong.MaxValue)]
    [InlineData("09", 9UL)]
    public void Numbers_parse(string text, ulong expected)
    {
        HwdefNumber.TryParse(text, out ulong value).ShouldBeTrue();
        value.ShouldBe(expected);
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
    [InlineData("18446744073709551616")]
    [InlineData("0x1_0000_0000_0000_0000")]
    [InlineData("0b11111111111111111111111111111111111111111111111111111111111111111")]
    [InlineData("99999999999999999999")]
    public void Bad_numbers_are_refused(string text)
    {
        HwdefNumber.TryParse(text, out ulong value).ShouldBeFalse();
        value.ShouldBe(0UL);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("_", true)]
    [InlineData("Z9_", true)]
    [InlineData("9a", false)]
    [InlineData("", false)]
    [InlineData("a-b", false)]
    [InlineData("é", false)]
    [InlineData("a.b", false)]
    public void Identifiers(string text, bool expected) => Lexical.IsIdentifier(text).ShouldBe(expected);

    [Theory]
    [InlineData("A.B_c", true)]
    [InlineData("A", true)]
    [InlineData("A.", false)]
    [InlineData(".A", false)]
    [InlineData("A..B", false)]
    [InlineData("A.9", false)]
    public void Dotted_names(string text, bool expected) => Lexical.IsDottedName(text).ShouldBe(expected);

    [Fact]
    public void Ranges_parse_into_pieces()
    {
        var pieces = new List<BitRange>();
        Lexical.TryParseRange("60:58,95:80,127", pieces, out string error).ShouldBeTrue();
        error.ShouldBeEmpty();
        pieces.ShouldBe(new[] { new BitRange(60, 58), new BitRange(95, 80), new BitRange(127, 127) });
        pieces[0].Width.ShouldBe(3);
        pieces[0].ToString().ShouldBe("60:58");
        pieces[2].ToString().ShouldBe("127");
        var huge = new List<BitRange>();
        Lexical.TryParseRange("99999999999:0", huge, out _).ShouldBeTrue();
        huge[0].High.ShouldBe(1 << 20);
        Lexical.TryParseRange("3:2:1", new List<BitRange>(), out string bad).ShouldBeFalse();
        bad.ShouldBe("'3:2:1' is not a bit range (N, H:L or H:L,H:L,...)");
        Lexical.TryParseRange("3,", new List<BitRange>(), out _).ShouldBeFalse();
    }

    [Fact]
    public void Hint_names_are_safe_and_tell_same_named_files_apart()
    {
        string a = HintNames.For("/x/amd-iommu/pte.hwdef");
        string b = HintNames.For("/x/x86/pte.hwdef");
        a.ShouldStartWith("pte.");
        a.ShouldEndWith(".g.cs");
        a.ShouldNotBe(b);
        HintNames.For("/x/amd-iommu/pte.hwdef").ShouldBe(a);
        HintNames.For("/x/my file-é.hwdef").ShouldStartWith("my_file__.");
        HintNames.For("a.hwdef").ShouldBe("a." + Fnv("a.hwdef") + ".g.cs");
    }

    private static string Fnv(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
        {
            hash = unchecked((hash ^ c) * 16777619);
        }

        return hash.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Equatable_arrays_compare_by_elements()
    {
        EquatableArray<BitRange> a = new[] { new BitRange(1, 0), new BitRange(3, 2) }.ToEquatableArray();
        EquatableArray<BitRange> b = new[] { new BitRange(1, 0), new BitRange(3, 2) }.ToEquatableArray();
        EquatableArray<BitRange> c = new[] { new BitRange(1, 0), new BitRange(3, 3) }.ToEquatableArray();
        EquatableArray<BitRange> shorter = new[] { new BitRange(1, 0) }.ToEquatableArray();
        a.Equals(b).ShouldBeTrue();
        a.Equals((object)b).ShouldBeTrue();
        a.GetHashCode().ShouldBe(b.GetHashCode());
        a.Equals(c).ShouldBeFalse();
        a.GetHashCode().ShouldNotBe(c.GetHashCode());
        a.Equals(shorter).ShouldBeFalse();
        shorter.Equals(a).ShouldBeFalse();
        a.Equals("x").ShouldBeFalse();
        default(EquatableArray<BitRange>).Equals(EquatableArray<BitRange>.Empty).ShouldBeTrue();
        default(EquatableArray<BitRange>).Count.ShouldBe(0);
        a.Count.ShouldBe(2);
        a[1].ShouldBe(new BitRange(3, 2));
        a.Select(r => r.Low).ShouldBe(new[] { 0, 2 });
        ((System.Collections.IEnumerable)a).Cast<BitRange>().Count().ShouldBe(2);
        new EquatableArray<BitRange>(ImmutableArray<BitRange>.Empty).GetHashCode().ShouldBe(default(EquatableArray<BitRange>).GetHashCode());
    }

    [Fact]
    public void Field_width_and_lowest_bit_cover_all_pieces()
    {
        var field = new FieldDecl("F", new[] { new BitRange(60, 58), new BitRange(95, 80), new BitRange(20, 10) }.ToEquatableArray(),
            FieldKind.Unsigned, null, 0, "u", FieldAccess.ReadWrite, null, default, default, true);
        field.Width.ShouldBe(3 + 16 + 11);
        field.LowestBit.ShouldBe(10);
    }

    [Fact]
    public void Lines_split_into_words_and_a_string()
    {
        List<Token> tokens = LineLexer.Tokenize("  3:0  A u \"doc # here\" # comment", out int error);
        error.ShouldBe(-1);
        tokens.ShouldBe(new[] { new Token("3:0", false, 2), new Token("A", false, 7), new Token("u", false, 9), new Token("doc # here", true, 11) });
        LineLexer.Tokenize("a\"b\"c", out _).ShouldBe(new[] { new Token("a", false, 0), new Token("b", true, 1), new Token("c", false, 4) });
        LineLexer.Tokenize("x \"open", out int open).ShouldBe(new[] { new Token("x", false, 0) });
        open.ShouldBe(2);
        LineLexer.Tokenize("a#b", out _).ShouldBe(new[] { new Token("a", false, 0) });
        LineLexer.Tokenize("\t\tx\t", out _).ShouldBe(new[] { new Token("x", false, 2) });
    }
}
