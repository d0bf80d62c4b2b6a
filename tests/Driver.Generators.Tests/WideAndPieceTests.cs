namespace Driver.Generators.Tests;

/// <summary>Layouts wider than 64 bits, fields across word boundaries and pieced addr@N fields.</summary>
public sealed class WideAndPieceTests
{
    private const string Dte = """
        namespace T.Hw
        enum PagingMode : 3
          0 Disabled
          4 Level4
        end
        layout Dte : 256 "device table entry"
          0 V bool
          1 TV bool
          6:2 res0
          8:7 ign
          11:9 Mode PagingMode
          51:12 Root addr
          57:52 ign
          60:58,95:80,127:107 Gcr3 addr@12 "three pieces"
          63:61 ign
          79:64 DomainId u
          106:96 ign
          133:128 Cross u
          191:134 ign
          192 res1
          255:193 ign
        end
        """;

    [Fact]
    public void Reads_fields_from_every_word()
    {
        string result = GeneratorHarness.Execute(Dte, """
            var d = new T.Hw.Dte(new ulong[] { 0x0000000012345803UL | (5UL << 58), 0x00000000ABCD0000UL | 0x1234UL, 0x3FUL, 1UL });
            return d.ToString() + "|" + d.IsValid + "|" + T.Hw.Dte.Words + "|" + T.Hw.Dte.Bits;
            """);
        result.ShouldBe("Dte { V = true, TV = true, Mode = Level4, Root = 0x12345000, Gcr3 = 0x55e6d000, DomainId = 0x1234, Cross = 0x3f }|True|4|256");
    }

    [Fact]
    public void Gcr3_round_trips_through_three_pieces()
    {
        string result = GeneratorHarness.Execute(Dte, """
            var d = default(T.Hw.Dte).WithGcr3(0xF_FFFF_FFFF_F000UL);
            var e = default(T.Hw.Dte).WithGcr3(0x8_0000_4000_5000UL);
            return string.Join(",", d.GetWord(0).ToString("x"), d.GetWord(1).ToString("x"), d.Gcr3.ToString("x"), e.Gcr3.ToString("x"),
                e.GetWord(0).ToString("x"), e.GetWord(1).ToString("x"), d.GetWord(2), d.GetWord(3));
            """);
        result.ShouldBe("1c00000000000000,fffff800ffff0000,ffffffffff000,8000040005000,1400000000000000,8000000080000000,0,0");
    }

    [Fact]
    public void A_field_may_cross_a_word_boundary()
    {
        string result = GeneratorHarness.Execute(Dte, """
            var d = default(T.Hw.Dte).WithCross(0x2A);
            var words = new ulong[4];
            d.CopyTo(words);
            return string.Join(",", words[2], new T.Hw.Dte(words).Cross, d.WithCross(0).GetWord(2), d.WithDomainId(0xFFFF).GetWord(1).ToString("x"));
            """);
        result.ShouldBe("42,42,0,ffff");
    }

    [Fact]
    public void Fields_straddling_two_words_keep_their_bits_in_order()
    {
        const string hwdef = """
            namespace T.Hw
            layout S : 128
              70:60 Straddle u
              59:0 ign
              127:71 ign
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            var s = default(T.Hw.S).WithStraddle(0x7FF);
            var t = default(T.Hw.S).WithStraddle(0x421);
            return string.Join(",", s.GetWord(0).ToString("x"), s.GetWord(1).ToString("x"), s.Straddle.ToString("x"), t.GetWord(0).ToString("x"), t.GetWord(1).ToString("x"), t.Straddle.ToString("x"));
            """);
        result.ShouldBe("f000000000000000,7f,7ff,1000000000000000,42,421");
    }

    [Fact]
    public void Wide_validity_and_word_access_errors()
    {
        string result = GeneratorHarness.Execute(Dte, """
            string Try(Func<object> f) { try { return f().ToString()!; } catch (ArgumentOutOfRangeException) { return "range"; } catch (ArgumentException) { return "argument"; } }
            var ok = new T.Hw.Dte(new ulong[] { 0, 0, 0, 1 });
            return string.Join(",", ok.IsValid, new T.Hw.Dte(new ulong[] { 4, 0, 0, 1 }).IsValid, new T.Hw.Dte(new ulong[] { 0, 0, 0, 0 }).IsValid,
                new T.Hw.Dte(new ulong[] { 0, 0, 0, 3 }).IsValid, Try(() => new T.Hw.Dte(new ulong[3])), Try(() => new T.Hw.Dte(new ulong[5])),
                Try(() => ok.GetWord(4)), Try(() => ok.GetWord(-1)), Try(() => { ok.CopyTo(new ulong[3]); return "copied"; }), Try(() => { ok.CopyTo(new ulong[6]); return "copied"; }),
                Try(() => ok.GetWord(3)));
            """);
        result.ShouldBe("True,False,False,True,argument,argument,range,range,argument,copied,1");
    }

    [Fact]
    public void Wide_equality_compares_every_word()
    {
        string result = GeneratorHarness.Execute(Dte, """
            var a = new T.Hw.Dte(new ulong[] { 1, 2, 3, 4 });
            string Diff(int i) { var w = new ulong[] { 1, 2, 3, 4 }; w[i] ^= 8; return (a == new T.Hw.Dte(w)) + "/" + a.Equals((object)new T.Hw.Dte(w)); }
            return string.Join(",", a == new T.Hw.Dte(new ulong[] { 1, 2, 3, 4 }), a != new T.Hw.Dte(new ulong[] { 1, 2, 3, 4 }), Diff(0), Diff(1), Diff(2), Diff(3),
                a.GetHashCode() == new T.Hw.Dte(new ulong[] { 1, 2, 3, 4 }).GetHashCode(), a.Equals("x"));
            """);
        result.ShouldBe("True,False,False/False,False/False,False/False,False/False,True,False");
    }

    [Fact]
    public void Pieced_address_rejects_bits_it_cannot_hold()
    {
        string result = GeneratorHarness.Execute(Dte, """
            string Try(ulong v) { try { return default(T.Hw.Dte).WithGcr3(v).Gcr3.ToString("x"); } catch (ArgumentOutOfRangeException) { return "throws"; } }
            return string.Join(",", Try(0x800), Try(0x10_0000_0000_0000UL), Try(0x1000));
            """);
        result.ShouldBe("throws,throws,1000");
    }

    [Fact]
    public void Address_at_N_places_the_value_above_bit_N()
    {
        const string hwdef = """
            namespace T.Hw
            layout InvPages : 128
              63:0 ign
              75:64 ign
              127:76 Address addr@12
            end
            layout Low : 64
              11:0 ign
              51:12 Page addr@0
              63:52 ign
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            var inv = default(T.Hw.InvPages).WithAddress(0x7FFF_FFFF_FFFF_F000UL);
            var low = default(T.Hw.Low).WithPage(0x12345);
            return string.Join(",", inv.GetWord(1).ToString("x"), inv.Address.ToString("x"), low.Raw.ToString("x"), low.Page.ToString("x"), new T.Hw.Low(0xFFFFFFFFFFFFFFFFUL).Page.ToString("x"));
            """);
        result.ShouldBe("7ffffffffffff000,7ffffffffffff000,12345000,12345,ffffffffff");
    }
}
