namespace Driver.Generators.Tests;

/// <summary>Enums, register access modes (ApplyWrite), blocks, documentation and C# keyword names.</summary>
public sealed class EnumBlockAndAccessTests
{
    [Fact]
    public void Enum_underlying_types_follow_the_width()
    {
        const string hwdef = """
            namespace T.Hw
            enum E1 : 1
              1 One
            end
            enum E8 : 8
              0xFF Max
            end
            enum E9 : 9
              0x1FF Max
            end
            enum E16 : 16
              1 A
            end
            enum E17 : 17
              0x1FFFF Max
            end
            enum E32 : 32
              0xFFFFFFFF Max
            end
            enum E33 : 33
              0x1FFFFFFFF Max
            end
            enum E64 : 64
              0xFFFF_FFFF_FFFF_FFFF Max
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            return string.Join(",", Enum.GetUnderlyingType(typeof(T.Hw.E1)).Name, Enum.GetUnderlyingType(typeof(T.Hw.E8)).Name, Enum.GetUnderlyingType(typeof(T.Hw.E9)).Name,
                Enum.GetUnderlyingType(typeof(T.Hw.E16)).Name, Enum.GetUnderlyingType(typeof(T.Hw.E17)).Name, Enum.GetUnderlyingType(typeof(T.Hw.E32)).Name,
                Enum.GetUnderlyingType(typeof(T.Hw.E33)).Name, Enum.GetUnderlyingType(typeof(T.Hw.E64)).Name, (ulong)T.Hw.E64.Max, (ulong)T.Hw.E33.Max, (uint)T.Hw.E32.Max);
            """);
        result.ShouldBe("Byte,Byte,UInt16,UInt16,UInt32,UInt32,UInt64,UInt64,18446744073709551615,8589934591,4294967295");
    }

    [Fact]
    public void Enum_fields_print_member_names_or_hex()
    {
        const string hwdef = """
            namespace T.Hw
            enum Mode : 2
              0 Off
              1 On "switched on"
              1 AlsoOn
            end
            layout R : 32
              1:0 Mode Mode
              31:2 ign
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            string Try(Func<T.Hw.R> f) { try { return f().Raw.ToString(); } catch (ArgumentOutOfRangeException) { return "throws"; } }
            return string.Join("|", new T.Hw.R(0), new T.Hw.R(1), new T.Hw.R(3), new T.Hw.R(2).Mode, default(T.Hw.R).WithMode(T.Hw.Mode.On).Raw,
                Try(() => default(T.Hw.R).WithMode((T.Hw.Mode)4)), Try(() => default(T.Hw.R).WithMode((T.Hw.Mode)3)));
            """);
        result.ShouldBe("R { Mode = Off }|R { Mode = On }|R { Mode = 0x3 }|2|1|throws|3");
    }

    [Fact]
    public void Enums_from_another_file_of_the_namespace_are_found()
    {
        GeneratorRun run = GeneratorHarness.Run(new[]
        {
            ("a/enums.hwdef", "namespace T.Hw\nenum Mode : 2\n  2 Two\nend\n"),
            ("b/regs.hwdef", "namespace T.Hw\nlayout R : 8\n  1:0 M Mode\n  7:2 ign\nend\n"),
        });
        run.HwdefDiagnostics.ShouldBeEmpty();
        run.CompileErrors.ShouldBeEmpty();
        run.Source("regs.").ShouldContain("public global::T.Hw.Mode M =>");
        run.Sources.Length.ShouldBe(4);
    }

    private const string Registers = """
        namespace T.Hw
        layout Status : 32
          0 Overflow bool w1c
          1 Interrupt bool w1c
          2 Running bool ro
          3 Enable bool rw
          4 Kick bool wo
          7:5 Level u w1c
          15:8 res0
          23:16 Version u ro
          31:24 ign
        end
        layout Wide : 128
          0 Clear bool w1c
          1 Ro bool ro
          64 Rw bool
          65 Clear2 bool w1c
          127:66 ign
          63:2 ign
        end
        """;

    [Theory]
    [InlineData(0xFF_00_00_07u, 0x00_00_00_00u, 0xFF_00_00_07u)]
    [InlineData(0xFF_00_00_07u, 0x00_00_00_01u, 0xFF_00_00_06u)]
    [InlineData(0xFF_00_00_07u, 0x00_00_00_03u, 0xFF_00_00_04u)]
    [InlineData(0x00_00_00_04u, 0x00_00_00_04u, 0x00_00_00_04u)]
    [InlineData(0x00_00_00_00u, 0x00_00_00_04u, 0x00_00_00_00u)]
    [InlineData(0x00_12_00_00u, 0x00_34_00_00u, 0x00_12_00_00u)]
    [InlineData(0x00_00_00_00u, 0x00_00_00_18u, 0x00_00_00_18u)]
    [InlineData(0x00_00_00_18u, 0x00_00_00_00u, 0x00_00_00_00u)]
    [InlineData(0x00_00_00_E0u, 0x00_00_00_A0u, 0x00_00_00_40u)]
    [InlineData(0xAB_00_FF_00u, 0x00_00_00_00u, 0xAB_00_FF_00u)]
    [InlineData(0x00_00_00_00u, 0xCD_00_FF_00u, 0x00_00_00_00u)]
    public void ApplyWrite_honours_each_access_mode(uint current, uint written, uint expected)
    {
        string result = GeneratorHarness.Execute(Registers, $"return T.Hw.Status.ApplyWrite(new T.Hw.Status({current}u), new T.Hw.Status({written}u)).Raw.ToString();");
        result.ShouldBe(expected.ToString());
    }

    [Fact]
    public void ApplyWrite_works_per_word_on_wide_layouts()
    {
        string result = GeneratorHarness.Execute(Registers, """
            var current = new T.Hw.Wide(new ulong[] { 0xFFFF_FFFF_FFFF_FFFFUL, 0x2UL });
            var written = new T.Hw.Wide(new ulong[] { 0x3UL, 0x3UL });
            var after = T.Hw.Wide.ApplyWrite(current, written);
            return after.GetWord(0).ToString("x") + "," + after.GetWord(1).ToString("x");
            """);
        result.ShouldBe("fffffffffffffffe,1");
    }

    [Fact]
    public void Blocks_emit_offsets_counts_and_strides()
    {
        const string hwdef = """
            namespace T.Hw
            layout Reg64 : 64
              63:0 V u
            end
            layout Reg32 : 32
              31:0 V u
            end
            block Mmio : 0x4000 "register window"
              0x0018 Control Reg64 "control"
              0x0100 Counter Reg64[4] 16
              0x0108 Small Reg32[3] 16
              0x3FFC Last Reg32
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            string Try(int i) { try { return T.Hw.Mmio.CounterOffsetOf(i).ToString("x"); } catch (ArgumentOutOfRangeException) { return "throws"; } }
            return string.Join(",", T.Hw.Mmio.Size.ToString("x"), T.Hw.Mmio.ControlOffset.ToString("x"), T.Hw.Mmio.CounterOffset.ToString("x"), T.Hw.Mmio.CounterCount,
                T.Hw.Mmio.CounterStride, Try(0), Try(3), Try(4), Try(-1), T.Hw.Mmio.SmallOffsetOf(2).ToString("x"), T.Hw.Mmio.LastOffset.ToString("x"));
            """);
        result.ShouldBe("4000,18,100,4,16,100,130,throws,throws,128,3ffc");
    }

    [Fact]
    public void Docs_become_summaries_and_are_escaped()
    {
        GeneratorRun run = GeneratorHarness.Run("""
            namespace T.Hw
            enum E : 1 "an <enum> & more"
              0 Zero "the # zero"
            end
            layout L : 32 "a layout"
              0 F bool "flag"
              31:1 ign
            end
            block B : 4 "a block"
              0 R L[1] 4 "reg"
            end
            """);
        run.HwdefDiagnostics.ShouldBeEmpty();
        string source = run.Source("test.");
        source.ShouldStartWith("// <auto-generated/>");
        source.ShouldContain("/// <summary>an &lt;enum&gt; &amp; more</summary>");
        source.ShouldContain("/// <summary>the # zero</summary>");
        source.ShouldContain("/// <summary>a layout</summary>");
        source.ShouldContain("/// <summary>flag</summary>");
        source.ShouldContain("/// <summary>a block</summary>");
        source.ShouldContain("/// <summary>reg</summary>");
        run.CompileErrors.ShouldBeEmpty();
    }

    [Fact]
    public void Csharp_keywords_are_usable_as_names()
    {
        string hwdef = """
            namespace T.@Hw.@event
            enum @class : 1
              1 @int
            end
            layout @struct : 8
              0 @event bool
              1 @class @class
              7:2 @object u
            end
            """.Replace("@", string.Empty);
        string result = GeneratorHarness.Execute(hwdef, """
            var s = default(T.Hw.@event.@struct).Withevent(true).Withclass(T.Hw.@event.@class.@int).Withobject(3);
            return s.ToString() + "|" + s.Raw;
            """);
        result.ShouldBe("struct { event = true, class = int, object = 0x3 }|15");
    }

    [Fact]
    public void A_layout_of_only_ignored_bits_prints_empty_braces()
    {
        string result = GeneratorHarness.Execute("namespace T.Hw\nlayout Empty : 16\n  15:0 ign\nend\n", "return new T.Hw.Empty(0xFFFF).ToString();");
        result.ShouldBe("Empty { }");
    }

    [Fact]
    public void Comments_blank_lines_separators_and_colon_spacing_are_accepted()
    {
        const string hwdef = """
            # a header comment

              namespace   T.Hw   # trailing comment
            layout L:16   "doc with # inside"
              0b1_011:0x0_A  F  u  rw  # comment
              9:0 ign
              15:12 G u
            end
            enum E :2
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, "return default(T.Hw.L).WithF(3).Raw + \",\" + T.Hw.L.FShift;");
        result.ShouldBe("3072,10");
    }
}
