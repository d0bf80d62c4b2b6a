using Driver.Hw.X86;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layout of hwdefs/x86/pte.hwdef.</summary>
public class X86PteTests
{
    // P | RW | US | A | D = 0x67, frame 0x1_2345_6000, NX (bit 63).
    private const ulong UserPageRaw = 0x8000_0001_2345_6067UL;

    // 2 MiB PDE: P | RW | PWT | PCD | PS | G = 0x19b, frame 0x4020_0000, protection key 5.
    private const ulong LargePageRaw = 0x2800_0000_4020_019BUL;

    [Fact]
    public void Decodes_a_user_data_page()
    {
        var pte = new X86Pte(UserPageRaw);

        pte.Present.ShouldBeTrue();
        pte.Writable.ShouldBeTrue();
        pte.User.ShouldBeTrue();
        pte.WriteThrough.ShouldBeFalse();
        pte.CacheDisable.ShouldBeFalse();
        pte.Accessed.ShouldBeTrue();
        pte.Dirty.ShouldBeTrue();
        pte.PageSize.ShouldBeFalse();
        pte.Global.ShouldBeFalse();
        pte.Address.ShouldBe(0x1_2345_6000UL);
        pte.ProtectionKey.ShouldBe((byte)0);
        pte.NoExecute.ShouldBeTrue();
        pte.ToString().ShouldBe(
            "X86Pte { Present = true, Writable = true, User = true, WriteThrough = false, CacheDisable = false, "
            + "Accessed = true, Dirty = true, PageSize = false, Global = false, Address = 0x123456000, "
            + "ProtectionKey = 0x0, NoExecute = true }");
    }

    [Fact]
    public void Encodes_a_user_data_page()
    {
        X86Pte.Reset.WithPresent(true).WithWritable(true).WithUser(true).WithAccessed(true).WithDirty(true)
            .WithAddress(0x1_2345_6000UL).WithNoExecute(true)
            .Raw.ShouldBe(UserPageRaw);
    }

    [Fact]
    public void Large_page_with_cache_bits_and_protection_key()
    {
        var pde = new X86Pte(LargePageRaw);
        pde.PageSize.ShouldBeTrue();
        pde.Global.ShouldBeTrue();
        pde.WriteThrough.ShouldBeTrue();
        pde.CacheDisable.ShouldBeTrue();
        pde.Address.ShouldBe(0x4020_0000UL);
        pde.ProtectionKey.ShouldBe((byte)5);
        pde.NoExecute.ShouldBeFalse();
        pde.ToString().ShouldBe(
            "X86Pte { Present = true, Writable = true, User = false, WriteThrough = true, CacheDisable = true, "
            + "Accessed = false, Dirty = false, PageSize = true, Global = true, Address = 0x40200000, "
            + "ProtectionKey = 0x5, NoExecute = false }");
        X86Pte.Reset.WithPresent(true).WithWritable(true).WithWriteThrough(true).WithCacheDisable(true)
            .WithPageSize(true).WithGlobal(true).WithAddress(0x4020_0000UL).WithProtectionKey(5)
            .Raw.ShouldBe(LargePageRaw);
    }

    [Fact]
    public void Masks_shifts_and_ignored_bits()
    {
        X86Pte.PageSizeMask.ShouldBe(0x80UL);
        X86Pte.AddressShift.ShouldBe(12);
        X86Pte.AddressMask.ShouldBe(0x000F_FFFF_FFFF_F000UL);
        X86Pte.ProtectionKeyShift.ShouldBe(59);
        X86Pte.ProtectionKeyMask.ShouldBe(0x7800_0000_0000_0000UL);
        X86Pte.NoExecuteMask.ShouldBe(1UL << 63);
        X86Pte.Res0Mask.ShouldBe(0UL);
        // Bits 11:9 and 58:52 are available to software: always valid, never printed.
        var withSoftwareBits = new X86Pte(UserPageRaw | 0xE00UL | (0x7FUL << 52));
        withSoftwareBits.IsValid.ShouldBeTrue();
        withSoftwareBits.ToString().ShouldBe(new X86Pte(UserPageRaw).ToString());
        withSoftwareBits.Address.ShouldBe(0x1_2345_6000UL);
        Should.Throw<ArgumentOutOfRangeException>(() => X86Pte.Reset.WithProtectionKey(16));
        Should.Throw<ArgumentOutOfRangeException>(() => X86Pte.Reset.WithAddress(1UL << 52));
    }
}
