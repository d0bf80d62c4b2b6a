namespace Driver.Generators.Tests;

/// <summary>
/// Layouts as byte images (uAPI structs): widths that are odd multiples of 32, widths up to 1024,
/// and the little-endian FromBytes / CopyTo(Span&lt;byte&gt;) every layout has.
/// </summary>
public sealed class ByteLayoutTests
{
    private const string Structs = """
        namespace T.Hw
        layout Alloc : 96 "three u32s, as struct iommu_ioas_alloc"
          31:0   Size   u
          63:32  Flags  u
          95:64  OutId  u  rw
        end
        layout Attrs : 1024 "sixteen u64s, as struct kvm_memory_attributes2"
          63:0      Offset  u
          319:256   Error   u
          959:320   res0
          1023:960  Last    u
          255:64    ign
        end
        layout Small : 16
          7:0   Lo  u
          15:8  Hi  u
        end
        layout Byte : 8
          7:0  V  u
        end
        layout Word32 : 32
          31:0  V  u
        end
        layout Word64 : 64
          63:0  V  u
        end
        """;

    [Fact]
    public void A96BitLayout_HasTwoWords_TwelveBytes_AndDropsBitsPastItsEnd()
    {
        string result = GeneratorHarness.Execute(Structs, """
            var a = new T.Hw.Alloc(new ulong[] { 0x0000_0002_0000_0018UL, 0xFFFF_FFFF_0000_0007UL });
            var bytes = new byte[13];
            bytes[12] = 0xEE;
            a.CopyTo(bytes);
            var back = T.Hw.Alloc.FromBytes(bytes.AsSpan(0, 12));
            return string.Join(",", T.Hw.Alloc.Words, T.Hw.Alloc.Bytes, a.GetWord(1).ToString("x"), a.OutId, a.Flags,
                System.Convert.ToHexString(bytes), back == a, back.ToString(), a.WithOutId(uint.MaxValue).GetWord(1).ToString("x"));
            """);
        result.ShouldBe("2,12,7,7,2,180000000200000007000000EE,True,Alloc { Size = 0x18, Flags = 0x2, OutId = 0x7 },ffffffff");
    }

    [Fact]
    public void ApplyWrite_OnA96BitLayout_LeavesTheBitsPastItsEndClear()
    {
        string result = GeneratorHarness.Execute(Structs, """
            var current = new T.Hw.Alloc(new ulong[] { 0UL, 0UL });
            var written = new T.Hw.Alloc(new ulong[] { 0UL, 0x1234UL });
            return T.Hw.Alloc.ApplyWrite(current, written).GetWord(1).ToString("x");
            """);
        result.ShouldBe("1234");
    }

    [Fact]
    public void A1024BitLayout_HasSixteenWords_ReadsAndWritesAllOfThem_AndChecksItsReservedBits()
    {
        string result = GeneratorHarness.Execute(Structs, """
            var bytes = new byte[128];
            bytes[0] = 0x11;
            bytes[32] = 0x22;
            bytes[127] = 0x80;
            var a = T.Hw.Attrs.FromBytes(bytes);
            var other = a.WithError(0x23);
            bytes[64] = 1;
            var bad = T.Hw.Attrs.FromBytes(bytes);
            var copy = new byte[128];
            a.CopyTo(copy);
            return string.Join(",", T.Hw.Attrs.Words, T.Hw.Attrs.Bytes, a.Offset.ToString("x"), a.Error.ToString("x"), a.Last.ToString("x"),
                a.IsValid, bad.IsValid, a == other, a.GetHashCode() == T.Hw.Attrs.FromBytes(copy).GetHashCode(), copy[127].ToString("x"), a.GetWord(15).ToString("x"));
            """);
        result.ShouldBe("16,128,11,22,8000000000000000,True,False,False,True,80,8000000000000000");
    }

    [Fact]
    public void NarrowLayouts_ReadAndWriteTheirBytesLittleEndian()
    {
        string result = GeneratorHarness.Execute(Structs, """
            byte[] bytes = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
            var s = T.Hw.Small.FromBytes(bytes.AsSpan(0, 2));
            var b = T.Hw.Byte.FromBytes(bytes.AsSpan(0, 1));
            var w = T.Hw.Word32.FromBytes(bytes.AsSpan(0, 4));
            var q = T.Hw.Word64.FromBytes(bytes);
            var out8 = new byte[8];
            q.WithV(0x1122334455667788UL).CopyTo(out8);
            var out2 = new byte[3];
            s.CopyTo(out2);
            var out4 = new byte[4];
            w.CopyTo(out4);
            var out1 = new byte[1];
            b.CopyTo(out1);
            return string.Join(",", s.Lo, s.Hi, T.Hw.Small.Bytes, b.V, w.V.ToString("x"), q.V.ToString("x"),
                System.Convert.ToHexString(out8), System.Convert.ToHexString(out2), System.Convert.ToHexString(out4), out1[0]);
            """);
        result.ShouldBe("1,2,2,1,4030201,807060504030201,8877665544332211,010200,01020304,1");
    }

    [Fact]
    public void WrongLengths_AreArgumentExceptions()
    {
        string result = GeneratorHarness.Execute(Structs, """
            string Try(System.Action a) { try { a(); return "ok"; } catch (System.ArgumentException) { return "arg"; } }
            return string.Join(",", Try(() => T.Hw.Alloc.FromBytes(new byte[11])), Try(() => T.Hw.Alloc.FromBytes(new byte[16])),
                Try(() => default(T.Hw.Alloc).CopyTo(new byte[11])), Try(() => default(T.Hw.Alloc).CopyTo(new byte[12])),
                Try(() => T.Hw.Word32.FromBytes(new byte[8])), Try(() => default(T.Hw.Small).CopyTo(new byte[1])),
                Try(() => T.Hw.Attrs.FromBytes(new byte[128])));
            """);
        result.ShouldBe("arg,arg,arg,ok,arg,arg,ok");
    }

    [Fact]
    public void WidthsBetween64And1024_AreMultiplesOf32()
    {
        GeneratorHarness.Run("namespace T.Hw\nlayout L : 160\n  31:0 V u\n  159:32 ign\nend\n").HwdefDiagnostics.ShouldBeEmpty();
        GeneratorHarness.Located(GeneratorHarness.Run("namespace T.Hw\nlayout L : 160\n  31:0 V u\n  159:32 ign\nend\n")).ShouldBeEmpty();
        GeneratorHarness.Located(GeneratorHarness.Run("namespace T.Hw\nlayout L : 1040\n  7:0 V u\nend\n")).ShouldBe(new[] { "HWDEF003@2:12" });
    }
}
