using Driver.Hw.AmdIommu;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layout and enums of hwdefs/amd-iommu/dte.hwdef.</summary>
public class AmdDteTests
{
    // GCR3 root 0xf_edcb_a987_6000 splits into address bits 14:12 = 0x6 (DTE 60:58),
    // 30:15 = 0x530e (DTE 95:80) and 51:31 = 0x1fdb97 (DTE 127:107).
    private const ulong Gcr3 = 0xF_EDCB_A987_6000UL;

    // V, TV, Mode 4, host root 0x12_3456_7000, GV, GLX 1, GCR3 above, IR, IW,
    // DomainID 0x42, I, IV, IntTabLen 9, interrupt table 0x1_2345_6780, IntCtl remap.
    private static readonly ulong[] _fullWords =
    [
        0x7980_0012_3456_7803UL,
        0xFEDC_B801_530E_0042UL,
        0x2000_0001_2345_6793UL,
        0x0UL,
    ];

    private static AmdDte Zero => new(new ulong[AmdDte.Words]);

    [Fact]
    public void Decodes_a_translated_device_with_every_group_of_fields()
    {
        var dte = new AmdDte(_fullWords);

        dte.Valid.ShouldBeTrue();
        dte.TranslationValid.ShouldBeTrue();
        dte.HostAccessDirty.ShouldBe((byte)0);
        dte.Mode.ShouldBe(PagingMode.Level4);
        dte.HostPageTableRoot.ShouldBe(0x12_3456_7000UL);
        dte.Ppr.ShouldBeFalse();
        dte.Giov.ShouldBeFalse();
        dte.Gv.ShouldBeTrue();
        dte.Glx.ShouldBe((byte)1);
        dte.Gcr3Root.ShouldBe(Gcr3);
        dte.IoRead.ShouldBeTrue();
        dte.IoWrite.ShouldBeTrue();
        dte.DomainId.ShouldBe((ushort)0x42);
        dte.Iotlb.ShouldBeTrue();
        dte.SuppressAllFaults.ShouldBeFalse();
        dte.Ex.ShouldBeFalse();
        dte.SysMgt.ShouldBe((byte)0);
        dte.InterruptRemapValid.ShouldBeTrue();
        dte.IntTabLen.ShouldBe((byte)9);
        dte.InterruptTableRoot.ShouldBe(0x1_2345_6780UL);
        dte.GuestPagingMode.ShouldBe((byte)0);
        dte.IntCtl.ShouldBe(InterruptControl.Remap);
        dte.Lint1Pass.ShouldBeFalse();
        dte.IsValid.ShouldBeTrue();
        dte.ToString().ShouldBe(
            "AmdDte { Valid = true, TranslationValid = true, HostAccessDirty = 0x0, Mode = Level4, "
            + "HostPageTableRoot = 0x1234567000, Ppr = false, Giov = false, Gv = true, Glx = 0x1, "
            + "Gcr3Root = 0xfedcba9876000, IoRead = true, IoWrite = true, DomainId = 0x42, Iotlb = true, "
            + "SuppressAllFaults = false, Ex = false, SysMgt = 0x0, InterruptRemapValid = true, "
            + "IntTabLen = 0x9, InterruptTableRoot = 0x123456780, GuestPagingMode = 0x0, InitPass = false, "
            + "ExtIntPass = false, NmiPass = false, IntCtl = Remap, Lint0Pass = false, Lint1Pass = false }");
    }

    [Fact]
    public void Encodes_the_same_entry_through_With()
    {
        var dte = Zero
            .WithValid(true)
            .WithTranslationValid(true)
            .WithMode(PagingMode.Level4)
            .WithHostPageTableRoot(0x12_3456_7000UL)
            .WithGv(true)
            .WithGlx(1)
            .WithGcr3Root(Gcr3)
            .WithIoRead(true)
            .WithIoWrite(true)
            .WithDomainId(0x42)
            .WithIotlb(true)
            .WithInterruptRemapValid(true)
            .WithIntTabLen(9)
            .WithInterruptTableRoot(0x1_2345_6780UL)
            .WithIntCtl(InterruptControl.Remap);

        for (var i = 0; i < AmdDte.Words; i++)
        {
            dte.GetWord(i).ShouldBe(_fullWords[i]);
        }

        var copy = new ulong[AmdDte.Words];
        dte.CopyTo(copy);
        copy.ShouldBe(_fullWords);
        (dte == new AmdDte(_fullWords)).ShouldBeTrue();
        dte.Equals(new AmdDte(_fullWords)).ShouldBeTrue();
        dte.GetHashCode().ShouldBe(new AmdDte(_fullWords).GetHashCode());
        (dte != Zero).ShouldBeTrue();
    }

    [Fact]
    public void Gcr3Root_round_trips_an_address_with_bits_in_all_three_pieces()
    {
        var dte = Zero.WithGcr3Root(Gcr3);

        dte.GetWord(0).ShouldBe(0x6UL << 58);
        dte.GetWord(1).ShouldBe((0x530EUL << 16) | (0x1F_DB97UL << 43));
        dte.GetWord(2).ShouldBe(0UL);
        dte.GetWord(3).ShouldBe(0UL);
        dte.Gcr3Root.ShouldBe(Gcr3);

        // One bit in each piece on its own.
        Zero.WithGcr3Root(0x1000UL).GetWord(0).ShouldBe(1UL << 58);
        Zero.WithGcr3Root(0x8000UL).GetWord(1).ShouldBe(1UL << 16);
        Zero.WithGcr3Root(0x8000_0000UL).GetWord(1).ShouldBe(1UL << 43);
        Zero.WithGcr3Root(1UL << 51).GetWord(1).ShouldBe(1UL << 63);
        new AmdDte(new[] { 1UL << 60, 1UL << 31, 0UL, 0UL }).Gcr3Root.ShouldBe((1UL << 14) | (1UL << 30));

        // Other fields sharing the qwords are left alone.
        var busy = new AmdDte(_fullWords).WithGcr3Root(0UL);
        busy.GetWord(0).ShouldBe(0x6180_0012_3456_7803UL);
        busy.GetWord(1).ShouldBe(0x0000_0001_0000_0042UL);
        busy.Mode.ShouldBe(PagingMode.Level4);
        busy.DomainId.ShouldBe((ushort)0x42);
    }

    [Fact]
    public void Gcr3Root_rejects_addresses_it_cannot_hold()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => Zero.WithGcr3Root(1UL << 52));
        Should.Throw<ArgumentOutOfRangeException>(() => Zero.WithGcr3Root(0x1234UL));
    }

    [Fact]
    public void Reserved_bits_from_the_reference_make_the_entry_invalid()
    {
        Zero.IsValid.ShouldBeTrue();
        Reserved(0, 2).IsValid.ShouldBeFalse();
        Reserved(0, 6).IsValid.ShouldBeFalse();
        Reserved(0, 63).IsValid.ShouldBeFalse();
        Reserved(2, 52).IsValid.ShouldBeFalse();
        Reserved(2, 53).IsValid.ShouldBeFalse();
        Reserved(3, 0).IsValid.ShouldBeFalse();
        Reserved(3, 14).IsValid.ShouldBeFalse();
        Reserved(3, 48).IsValid.ShouldBeFalse();
        Reserved(3, 53).IsValid.ShouldBeFalse();

        // Bits that are merely ignored do not.
        Reserved(0, 53).IsValid.ShouldBeTrue();
        Reserved(1, 33).IsValid.ShouldBeTrue();
        Reserved(3, 15).IsValid.ShouldBeTrue();
        Reserved(3, 63).IsValid.ShouldBeTrue();
    }

    [Fact]
    public void Passthrough_entry_prints_defaults()
    {
        var dte = Zero.WithValid(true);
        dte.Mode.ShouldBe(PagingMode.Disabled);
        dte.IntCtl.ShouldBe(InterruptControl.Abort);
        dte.GetWord(0).ShouldBe(1UL);
        dte.ToString().ShouldStartWith("AmdDte { Valid = true, TranslationValid = false, HostAccessDirty = 0x0, Mode = Disabled, ");
    }

    [Fact]
    public void Unnamed_mode_prints_as_hex_and_storage_checks_length()
    {
        var dte = new AmdDte(new[] { 7UL << 9, 0UL, 0UL, 0UL });
        ((byte)dte.Mode).ShouldBe((byte)7);
        dte.ToString().ShouldContain("Mode = 0x7,");
        Should.Throw<ArgumentException>(() => new AmdDte(new ulong[3]));
        AmdDte.Bits.ShouldBe(256);
        AmdDte.Words.ShouldBe(4);
    }

    private static AmdDte Reserved(int word, int bit)
    {
        var words = new ulong[AmdDte.Words];
        words[word] = 1UL << bit;
        return new AmdDte(words);
    }
}
