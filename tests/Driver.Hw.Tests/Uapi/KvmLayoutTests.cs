using Driver.Hw.Kvm;
using Driver.Hw.Linux;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests.Uapi;

/// <summary>The guest_memfd uAPI structs against include/uapi/linux/kvm.h and the in-place conversion series.</summary>
public sealed class KvmLayoutTests
{
    [Fact]
    public void KvmMemoryAttributes2_MatchesTheHeader() => UapiLayout.Check<KvmMemoryAttributes2>(128, v => v.CopyTo, b => KvmMemoryAttributes2.FromBytes(b),
        ("Offset", 0, 8), ("Size", 8, 8), ("Attributes", 16, 8), ("Flags", 24, 8), ("ErrorOffset", 32, 8));

    [Fact]
    public void KvmCreateGuestMemfd_MatchesTheHeader() => UapiLayout.Check<KvmCreateGuestMemfd>(64, v => v.CopyTo, b => KvmCreateGuestMemfd.FromBytes(b),
        ("Size", 0, 8), ("Flags", 8, 8));

    [Fact]
    public void Ioctls_AndFlagValues_AreLinuxs()
    {
        var set = default(IoctlCommand).WithType(0xAE).WithNr((byte)KvmIoctl.SetMemoryAttributes)
            .WithSize(KvmMemoryAttributes2.Bytes).WithDir(IoctlDir.ReadWrite);
        set.Raw.ShouldBe(0xC080AED2U, "KVM_SET_MEMORY_ATTRIBUTES2 = _IOWR(KVMIO, 0xd2, 128 bytes)");
        ((ulong)KvmMemoryAttributes.Private).ShouldBe(1UL << 3);
        ((ulong)GuestMemfdFlags.Mmap).ShouldBe(1UL);
        ((ulong)GuestMemfdFlags.InitShared).ShouldBe(2UL);
        ((ulong)SetMemoryAttributes2Flags.Zero).ShouldBe(1UL);
        ((ulong)SetMemoryAttributes2Flags.Preserve).ShouldBe(2UL);
    }
}
