using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>guest_memfd as Linux's guest_memfd_test.c checks it: create, fallocate, mmap, host access, get_pfn.</summary>
public sealed class GuestMemfdTests
{
    [Theory]
    [InlineData(0UL, 0UL, Errno.EINVAL)]
    [InlineData(4096UL + 1, 0UL, Errno.EINVAL)]
    [InlineData(4096UL, 0x4UL, Errno.EINVAL)]
    [InlineData(4096UL, 1UL << 63, Errno.EINVAL)]
    [InlineData(4096UL, 0x3UL, Errno.Ok)]
    [InlineData(8192UL, 0x1UL, Errno.Ok)]
    public void Create_ChecksFlagsAndSize(ulong size, ulong flags, Errno expected)
    {
        var f = new GmemFixture();
        GuestMemfd.Create(f.User.Pages, f.User.Memory, size, flags, out GuestMemfd? file).ShouldBe(expected);
        (file is not null).ShouldBe(expected == Errno.Ok);
    }

    [Fact]
    public void InitShared_IsRefusedWhereNotOffered_AndSetsTheStartingState()
    {
        var f = new GmemFixture();
        GuestMemfd.Create(f.User.Pages, f.User.Memory, K4, (ulong)GuestMemfdFlags.InitShared, out _,
            new GuestMemfdOptions { SupportsInitShared = false }).ShouldBe(Errno.EINVAL);
        f.Create(2 * K4).IsPrivate(1).ShouldBeTrue();
        f.Create(2 * K4, GuestMemfdFlags.InitShared).IsPrivate(1).ShouldBeFalse();
    }

    [Fact]
    public void Fallocate_NeedsKeepSize_AlignedRanges_AndAllocatesOnlyInsideTheFile()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        file.Fallocate(0, 0, K4).ShouldBe(Errno.EOPNOTSUPP);
        file.Fallocate(GuestMemfd.FallocPunchHole, 0, K4).ShouldBe(Errno.EOPNOTSUPP);
        file.Fallocate(GuestMemfd.FallocKeepSize | 0x10, 0, K4).ShouldBe(Errno.EOPNOTSUPP);
        file.Fallocate(GuestMemfd.FallocKeepSize, 1, K4).ShouldBe(Errno.EINVAL);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, K4 + 1).ShouldBe(Errno.EINVAL);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, 0).ShouldBe(Errno.EINVAL);
        file.Fallocate(GuestMemfd.FallocKeepSize, 4 * K4, K4).ShouldBe(Errno.EINVAL);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, K4, ulong.MaxValue & ~0xFFFUL).ShouldBe(Errno.EINVAL);
        file.PresentPages.ShouldBe(0);

        file.Fallocate(GuestMemfd.FallocKeepSize, K4, 2 * K4).ShouldBe(Errno.Ok);
        file.PresentPages.ShouldBe(2);
        f.User.Frames.FramesInUse.ShouldBe(2);
    }

    [Fact]
    public void PunchHole_DropsThePages_AndPastTheEndIsNothingToDo()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, 4 * K4).ShouldBe(Errno.Ok);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, K4, 2 * K4).ShouldBe(Errno.Ok);
        file.PresentPages.ShouldBe(2);
        file.FolioOrderAt(1).ShouldBe(-1);
        f.User.Frames.FramesInUse.ShouldBe(2);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 8 * K4, K4).ShouldBe(Errno.Ok);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 0, 16 * K4).ShouldBe(Errno.Ok);
        f.User.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void PunchingPartOfA2MFolio_SplitsIt_AndKeepsTheRest()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, huge: true);
        file.GetPfn(5, out ulong pfn5, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        f.User.Frames.FramesInUse.ShouldBe(512);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 0, K4).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(-1);
        file.FolioOrderAt(5).ShouldBe(0);
        file.GetPfn(5, out ulong again, out order).ShouldBe(Errno.Ok);
        again.ShouldBe(pfn5);
        order.ShouldBe(0);
        f.User.Frames.FramesInUse.ShouldBe(511);
    }

    [Fact]
    public void GetPfn_AllocatesA2MFolioOverA2MPrivateRange_And4KElsewhere()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2 + (2 * K4), huge: true);
        file.GetPfn(7, out ulong pfn, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        (pfn & 511).ShouldBe(7UL, "the folio is 2M aligned in physical memory too");
        file.GetPfn(512, out _, out order).ShouldBe(Errno.Ok);
        order.ShouldBe(0, "the tail is shorter than 2M");
        f.User.Pages.RefCount(pfn).ShouldBe(1, "the file's own reference");

        GuestMemfd shared = f.Create(M2, GuestMemfdFlags.InitShared, huge: true);
        shared.GetPfn(0, out _, out order).ShouldBe(Errno.Ok);
        order.ShouldBe(0, "shared memory is never in a 2M folio");
        file.GetPfn(M2 / K4 + 2, out _, out _).ShouldBe(Errno.EFAULT);
    }

    [Fact]
    public void GetPfn_OfAPoisonedPage_IsEHWPOISON()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * K4);
        file.GetPfn(1, out ulong pfn, out _).ShouldBe(Errno.Ok);
        f.User.Pages.SetHwPoison(pfn);
        file.GetPfn(1, out ulong none, out _).ShouldBe(Errno.EHWPOISON);
        none.ShouldBe(0UL);
        file.GetPfn(0, out _, out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void Mmap_NeedsTheMmapFlag_AndTheHostReachesSharedPagesOnly()
    {
        var f = new GmemFixture();
        f.Create(K4).Mmap(f.User.Mm, 0, K4, writable: true, out _).ShouldBe(Errno.ENODEV);

        GuestMemfd file = f.Create(2 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        file.Mmap(f.User.Mm, 0, 2 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va + K4 + 8, [0x5A]).ShouldBe(Errno.Ok);
        file.GetPfn(1, out ulong pfn, out _).ShouldBe(Errno.Ok);
        var seen = new byte[1];
        f.User.Memory.Read((pfn << 12) + 8, seen);
        seen[0].ShouldBe((byte)0x5A, "host and guest see one page");
        f.User.Pages.RefCount(pfn).ShouldBe(2, "the file's and the mapping's");

        Convert(file, 0, K4, toPrivate: true).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va, [1], out UserFault fault).ShouldBe(Errno.EFAULT);
        fault.ShouldBe(UserFault.Bus, "a private page is SIGBUS, not SIGSEGV");
        f.User.Mm.CopyFromUser(va, new byte[1], out fault).ShouldBe(Errno.EFAULT);
        fault.ShouldBe(UserFault.Bus);
        f.User.Mm.PinUserPages(va, 1, write: false, new ulong[1]).ShouldBe(Errno.EFAULT);
        f.User.Mm.CopyToUser(va + (4 * K4), [1], out fault).ShouldBe(Errno.EFAULT);
        fault.ShouldBe(UserFault.Segv);

        Convert(file, 0, K4, toPrivate: false).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va, [1], out fault).ShouldBe(Errno.Ok);
        fault.ShouldBe(UserFault.None);
    }

    [Fact]
    public void TheFile_LivesWhileAnFdOrAMappingHoldsIt_ThenItsPagesGo()
    {
        var f = new GmemFixture();
        var fds = new FdTable();
        GuestMemfd file = f.Create(2 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        int fd = fds.Install(file);
        file.Mmap(f.User.Mm, 0, 2 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        f.User.Mm.Populate(va, 2 * K4).ShouldBe(Errno.Ok);
        fds.Close(fd).ShouldBe(Errno.Ok);
        file.Alive.ShouldBeTrue();
        f.User.Mm.Munmap(va, 2 * K4).ShouldBe(Errno.Ok);
        file.Alive.ShouldBeFalse();
        f.User.Frames.FramesInUse.ShouldBe(0);
        file.GetPfn(0, out _, out _).ShouldBe(Errno.EFAULT);
        Convert(file, 0, K4, toPrivate: true).ShouldBe(Errno.EFAULT);
    }
}
