using System.Numerics;
using Driver.Hw.AmdIommu;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layout of hwdefs/amd-iommu/pte.hwdef.</summary>
public class AmdV1PteTests
{
    // PR (bit 0), IR (61), IW (62), page frame 0x12345000.
    private const ulong LeafRaw = 0x6000_0000_1234_5001UL;

    [Fact]
    public void Decodes_a_4K_leaf()
    {
        var pte = new AmdV1Pte(LeafRaw);

        pte.Present.ShouldBeTrue();
        pte.Accessed.ShouldBeFalse();
        pte.Dirty.ShouldBeFalse();
        pte.NextLevel.ShouldBe((byte)0);
        pte.Address.ShouldBe(0x1234_5000UL);
        pte.ForceCoherent.ShouldBeFalse();
        pte.IoRead.ShouldBeTrue();
        pte.IoWrite.ShouldBeTrue();
        pte.IsValid.ShouldBeTrue();
        pte.ToString().ShouldBe(
            "AmdV1Pte { Present = true, Accessed = false, Dirty = false, NextLevel = 0x0, "
            + "Address = 0x12345000, ForceCoherent = false, IoRead = true, IoWrite = true }");
    }

    [Fact]
    public void Encodes_the_same_leaf()
    {
        AmdV1Pte.Reset.WithPresent(true).WithAddress(0x1234_5000UL).WithIoRead(true).WithIoWrite(true)
            .Raw.ShouldBe(LeafRaw);
        new AmdV1Pte(LeafRaw).ShouldBe(AmdV1Pte.Reset.WithPresent(true).WithAddress(0x1234_5000UL).WithIoRead(true).WithIoWrite(true));
        AmdV1Pte.Reset.Raw.ShouldBe(0UL);
        AmdV1Pte.Bits.ShouldBe(64);
    }

    [Fact]
    public void Directory_entry_points_at_the_next_level()
    {
        // Linux PM_LEVEL_PDE(3, table): table | NextLevel 3 << 9 | PR | IR | IW.
        var pde = new AmdV1Pte(0x6000_0000_7654_3601UL);
        pde.NextLevel.ShouldBe((byte)3);
        pde.Address.ShouldBe(0x7654_3000UL);
        pde.ToString().ShouldBe(
            "AmdV1Pte { Present = true, Accessed = false, Dirty = false, NextLevel = 0x3, "
            + "Address = 0x76543000, ForceCoherent = false, IoRead = true, IoWrite = true }");
        AmdV1Pte.Reset.WithPresent(true).WithNextLevel(3).WithAddress(0x7654_3000UL).WithIoRead(true).WithIoWrite(true)
            .Raw.ShouldBe(0x6000_0000_7654_3601UL);
    }

    [Fact]
    public void NextLevel_7_encodes_the_page_size_in_the_address()
    {
        // 2 MiB page at 0x4020_0000: ones in address bits 19:12, zero at bit 20.
        var pte = new AmdV1Pte(0x2000_0000_402F_FE01UL);
        pte.NextLevel.ShouldBe((byte)7);
        pte.Address.ShouldBe(0x402F_F000UL);
        pte.IoRead.ShouldBeTrue();
        pte.IoWrite.ShouldBeFalse();
        var pageSize = 1UL << (BitOperations.TrailingZeroCount(~(pte.Address | 0xFFFUL)) + 1);
        pageSize.ShouldBe(0x20_0000UL);
        (pte.Address & ~(pageSize - 1)).ShouldBe(0x4020_0000UL);
        AmdV1Pte.Reset.WithPresent(true).WithNextLevel(7).WithAddress(0x402F_F000UL).WithIoRead(true)
            .Raw.ShouldBe(0x2000_0000_402F_FE01UL);
    }

    [Fact]
    public void Accessed_dirty_and_coherent_bits()
    {
        var pte = new AmdV1Pte(0x100F_FFFF_FFFF_F061UL);
        pte.Accessed.ShouldBeTrue();
        pte.Dirty.ShouldBeTrue();
        pte.ForceCoherent.ShouldBeTrue();
        pte.Address.ShouldBe(0xF_FFFF_FFFF_F000UL);
        pte.ToString().ShouldBe(
            "AmdV1Pte { Present = true, Accessed = true, Dirty = true, NextLevel = 0x0, "
            + "Address = 0xffffffffff000, ForceCoherent = true, IoRead = false, IoWrite = false }");
        AmdV1Pte.Reset.WithPresent(true).WithAccessed(true).WithDirty(true).WithForceCoherent(true)
            .WithAddress(0xF_FFFF_FFFF_F000UL).Raw.ShouldBe(0x100F_FFFF_FFFF_F061UL);
    }

    [Fact]
    public void Masks_and_reserved_bits()
    {
        AmdV1Pte.PresentShift.ShouldBe(0);
        AmdV1Pte.NextLevelShift.ShouldBe(9);
        AmdV1Pte.NextLevelMask.ShouldBe(0xE00UL);
        AmdV1Pte.AddressShift.ShouldBe(12);
        AmdV1Pte.AddressMask.ShouldBe(0x000F_FFFF_FFFF_F000UL);
        AmdV1Pte.IoWriteMask.ShouldBe(1UL << 62);
        AmdV1Pte.Res0Mask.ShouldBe(0x07F0_0000_0000_0000UL);
        AmdV1Pte.Res1Mask.ShouldBe(0UL);

        new AmdV1Pte(LeafRaw | (1UL << 52)).IsValid.ShouldBeFalse();
        new AmdV1Pte(LeafRaw | (1UL << 58)).IsValid.ShouldBeFalse();
        // Ignored bits (4:1, 8:7, 59, 63) are free for software.
        new AmdV1Pte(LeafRaw | 0x1EUL | 0x180UL | (1UL << 59) | (1UL << 63)).IsValid.ShouldBeTrue();
        new AmdV1Pte(LeafRaw | (1UL << 63)).ToString().ShouldBe(new AmdV1Pte(LeafRaw).ToString());
    }

    [Fact]
    public void With_rejects_values_that_do_not_fit()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => AmdV1Pte.Reset.WithNextLevel(8));
        Should.Throw<ArgumentOutOfRangeException>(() => AmdV1Pte.Reset.WithAddress(1UL << 52));
        Should.Throw<ArgumentOutOfRangeException>(() => AmdV1Pte.Reset.WithAddress(0x1234_5008UL));
    }
}
