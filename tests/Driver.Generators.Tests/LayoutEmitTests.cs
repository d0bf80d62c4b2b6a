namespace Driver.Generators.Tests;

/// <summary>Compiles generated layouts together with code that uses them, runs it, and checks the results.</summary>
public sealed class LayoutEmitTests
{
    private const string Pte = """
        namespace T.Hw
        layout AmdV1Pte : 64 "AMD I/O page table entry"
          0       Present     bool "PR"
          4:1     ign
          5       Accessed    bool
          6       Dirty       bool
          8:7     ign
          11:9    NextLevel   u
          51:12   Address     addr
          58:52   res0
          59      ign
          60      ForceCoherent bool
          61      IoRead      bool
          62      IoWrite     bool
          63      ign
        end
        """;

    [Fact]
    public void Decodes_the_reference_pte()
    {
        string result = GeneratorHarness.Execute(Pte, """
            var pte = new T.Hw.AmdV1Pte(0x6000000012345001UL);
            return pte.ToString() + "|" + pte.Present + "|" + pte.NextLevel + "|" + pte.Address.ToString("x") + "|" + pte.IoRead + "|" + pte.IoWrite + "|" + pte.Dirty + "|" + pte.ForceCoherent;
            """);
        result.ShouldBe("AmdV1Pte { Present = true, Accessed = false, Dirty = false, NextLevel = 0x0, Address = 0x12345000, ForceCoherent = false, IoRead = true, IoWrite = true }|True|0|12345000|True|True|False|False");
    }

    [Fact]
    public void Encodes_the_reference_pte_with_With_methods()
    {
        string result = GeneratorHarness.Execute(Pte, """
            var pte = default(T.Hw.AmdV1Pte).WithPresent(true).WithAddress(0x12345000UL).WithIoRead(true).WithIoWrite(true);
            var level = pte.WithNextLevel(7).WithDirty(true).WithAccessed(true).WithForceCoherent(true);
            var cleared = level.WithPresent(false).WithNextLevel(0).WithDirty(false).WithAccessed(false).WithForceCoherent(false).WithIoRead(false).WithIoWrite(false).WithAddress(0);
            return pte.Raw.ToString("x") + "|" + level.Raw.ToString("x") + "|" + cleared.Raw.ToString("x");
            """);
        result.ShouldBe("6000000012345001|7000000012345e61|0");
    }

    [Fact]
    public void Emits_shift_mask_and_reserved_constants()
    {
        string result = GeneratorHarness.Execute(Pte, """
            return string.Join(",", T.Hw.AmdV1Pte.Bits, T.Hw.AmdV1Pte.NextLevelShift, T.Hw.AmdV1Pte.NextLevelMask.ToString("x"),
                T.Hw.AmdV1Pte.AddressShift, T.Hw.AmdV1Pte.AddressMask.ToString("x"), T.Hw.AmdV1Pte.PresentMask, T.Hw.AmdV1Pte.IoWriteShift,
                T.Hw.AmdV1Pte.Res0Mask.ToString("x"), T.Hw.AmdV1Pte.Res1Mask, T.Hw.AmdV1Pte.Reset.Raw);
            """);
        result.ShouldBe("64,9,e00,12,ffffffffff000,1,62,7f0000000000000,0,0");
    }

    [Fact]
    public void IsValid_checks_res0_and_res1_bits()
    {
        const string hwdef = """
            namespace T.Hw
            layout R : 8
              0 A bool
              1 res1
              3:2 res0
              7:4 ign
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            return string.Join(",", new T.Hw.R(0x2).IsValid, new T.Hw.R(0x0).IsValid, new T.Hw.R(0x6).IsValid, new T.Hw.R(0xA).IsValid, new T.Hw.R(0xF3).IsValid,
                T.Hw.R.Res0Mask, T.Hw.R.Res1Mask);
            """);
        result.ShouldBe("True,False,False,False,True,12,2");
    }

    [Fact]
    public void With_rejects_values_that_do_not_fit()
    {
        string result = GeneratorHarness.Execute(Pte, """
            var pte = new T.Hw.AmdV1Pte(0x1UL);
            string Try(Func<T.Hw.AmdV1Pte> f) { try { return f().Raw.ToString("x"); } catch (ArgumentOutOfRangeException e) { return "throws " + e.ParamName + " " + e.ActualValue; } }
            return string.Join("|", Try(() => pte.WithNextLevel(8)), Try(() => pte.WithNextLevel(7)), Try(() => pte.WithAddress(0x12345001UL)),
                Try(() => pte.WithAddress(0x10000000000000UL)), Try(() => pte.WithAddress(0xFFFFFFFFFF000UL)));
            """);
        result.ShouldBe("throws value 8|e01|throws value 305418241|throws value 4503599627370496|ffffffffff001");
    }

    [Fact]
    public void Equality_hash_and_operators_compare_bits()
    {
        string result = GeneratorHarness.Execute(Pte, """
            var a = new T.Hw.AmdV1Pte(5); var b = new T.Hw.AmdV1Pte(5); var c = new T.Hw.AmdV1Pte(6);
            return string.Join(",", a == b, a != b, a == c, a != c, a.Equals(b), a.Equals((object)b), a.Equals((object)5UL), a.Equals(c), a.GetHashCode() == b.GetHashCode(), a.GetHashCode() == 5UL.GetHashCode());
            """);
        result.ShouldBe("True,False,False,True,True,True,False,False,True,True");
    }

    [Fact]
    public void Storage_and_field_types_follow_the_widths()
    {
        const string hwdef = """
            namespace T.Hw
            layout B8 : 8
              2:0 F3 u
              7:3 ign
            end
            layout B16 : 16
              8:0 F9 u
              15:9 ign
            end
            layout B32 : 32
              16:0 F17 u
              31:17 ign
            end
            layout B64 : 64
              32:0 F33 u
              63:33 F31 u
            end
            layout Full : 64
              63:0 All u
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            return string.Join(",", typeof(T.Hw.B8).GetProperty("Raw")!.PropertyType.Name, typeof(T.Hw.B8).GetProperty("F3")!.PropertyType.Name,
                typeof(T.Hw.B16).GetProperty("Raw")!.PropertyType.Name, typeof(T.Hw.B16).GetProperty("F9")!.PropertyType.Name,
                typeof(T.Hw.B32).GetProperty("Raw")!.PropertyType.Name, typeof(T.Hw.B32).GetProperty("F17")!.PropertyType.Name,
                typeof(T.Hw.B64).GetProperty("Raw")!.PropertyType.Name, typeof(T.Hw.B64).GetProperty("F33")!.PropertyType.Name,
                typeof(T.Hw.B64).GetProperty("F31")!.PropertyType.Name, typeof(T.Hw.B8).GetField("F3Mask")!.FieldType.Name,
                new T.Hw.B8(0xFF).F3, new T.Hw.B16(0xFFFF).F9, new T.Hw.B32(0xFFFFFFFF).F17, new T.Hw.B64(ulong.MaxValue).F33.ToString("x"),
                new T.Hw.B64(ulong.MaxValue).F31.ToString("x"), default(T.Hw.B8).WithF3(5).Raw, default(T.Hw.B16).WithF9(511).Raw,
                default(T.Hw.B32).WithF17(0x1FFFF).Raw, default(T.Hw.B64).WithF31(1).Raw.ToString("x"),
                new T.Hw.Full(ulong.MaxValue).All.ToString("x"), default(T.Hw.Full).WithAll(ulong.MaxValue).Raw.ToString("x"));
            """);
        result.ShouldBe("Byte,Byte,UInt16,UInt16,UInt32,UInt32,UInt64,UInt64,UInt32,Byte,7,511,131071,1ffffffff,7fffffff,5,511,131071,200000000,ffffffffffffffff,ffffffffffffffff");
    }

    [Fact]
    public void Narrow_With_rejects_values_beyond_the_field()
    {
        const string hwdef = """
            namespace T.Hw
            layout B16 : 16
              8:0 F9 u
              15:9 G u
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            string Try(Func<T.Hw.B16> f) { try { return f().Raw.ToString("x"); } catch (ArgumentOutOfRangeException) { return "throws"; } }
            var v = new T.Hw.B16(0xFFFF);
            return string.Join(",", Try(() => v.WithF9(512)), Try(() => v.WithF9(0)), Try(() => v.WithG(0x80)), Try(() => v.WithG(0x7F)), Try(() => v.WithG(0)));
            """);
        result.ShouldBe("throws,fe00,throws,ffff,1ff");
    }

    [Fact]
    public void Reset_value_is_emitted_for_every_narrow_width()
    {
        const string hwdef = """
            namespace T.Hw
            layout A : 8
              7:0 V u
              reset 0xA5
            end
            layout B : 32
              31:0 V u
              reset 0x8000_0001
            end
            layout C : 64
              63:0 V u
              reset 0b1010
            end
            layout D : 16
              15:0 V u
            end
            """;
        string result = GeneratorHarness.Execute(hwdef, """
            return string.Join(",", T.Hw.A.Reset.Raw, T.Hw.B.Reset.Raw.ToString("x"), T.Hw.C.Reset.Raw, T.Hw.D.Reset.Raw, T.Hw.A.Reset == new T.Hw.A(0xA5));
            """);
        result.ShouldBe("165,80000001,10,0,True");
    }
}
