using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>Binding guest_memfd ranges to memslots (KVM_SET_USER_MEMORY_REGION2), and get_pfn through them.</summary>
public sealed class MemslotTests
{
    private static (GmemFixture F, FdTable Fds, KvmVm Vm, int Fd) NewVm(ulong size = 8 * K4, CapturedLogs? logs = null)
    {
        var f = new GmemFixture(logs: logs);
        var fds = new FdTable();
        var vm = new KvmVm(f.User.Pages, f.User.Memory, fds, new GuestMemfdOptions { LoggerFactory = logs });
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(size).CopyTo(create);
        vm.CreateGuestMemfd(create, out int fd).ShouldBe(Errno.Ok);
        return (f, fds, vm, fd);
    }

    [Fact]
    public void CreateGuestMemfd_TakesTheUapiStruct_AndRefusesReservedBytes()
    {
        var (_, fds, vm, fd) = NewVm();
        fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        file!.Owner.ShouldBeSameAs(vm);
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(K4).CopyTo(create);
        create[40] = 1;
        vm.CreateGuestMemfd(create, out int none).ShouldBe(Errno.EINVAL);
        none.ShouldBe(-1);
        vm.CreateGuestMemfd(create.AsSpan(0, 8), out _).ShouldBe(Errno.EINVAL);
        create[40] = 0;
        create[8] = 0x80;
        vm.CreateGuestMemfd(create, out _).ShouldBe(Errno.EINVAL, "an unknown flag");
    }

    [Fact]
    public void BindingRules_AreEbadfAndEinval_AsLinuxHasThem()
    {
        var logs = new CapturedLogs();
        var (f, fds, vm, fd) = NewVm(logs: logs);
        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, 99, 0).ShouldBe(Errno.EBADF);
        logs.Single(6010, LogLevel.Information).GetStructuredStateValue("Errno").ShouldBe("EBADF");
        int memfd = fds.Install(f.User.NewMemFd(K4));
        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, memfd, 0).ShouldBe(Errno.EINVAL, "not a guest_memfd");
        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, fd, 1).ShouldBe(Errno.EINVAL, "unaligned offset");
        vm.SetUserMemoryRegion2(0, 0x10_0001, 4 * K4, fd, 0).ShouldBe(Errno.EINVAL, "unaligned address");
        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, fd, 6 * K4).ShouldBe(Errno.EINVAL, "past the end of the file");
        vm.SetUserMemoryRegion2(-1, 0x10_0000, 4 * K4, fd, 0).ShouldBe(Errno.EINVAL);

        var other = new KvmVm(f.User.Pages, f.User.Memory, fds);
        other.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, fd, 0).ShouldBe(Errno.EINVAL, "another VM's file");

        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, fd, 0).ShouldBe(Errno.Ok);
        vm.SetUserMemoryRegion2(1, 0x20_0000, 4 * K4, fd, 2 * K4).ShouldBe(Errno.EINVAL, "overlaps slot 0's binding");
        vm.SetUserMemoryRegion2(1, 0x10_2000, 4 * K4, fd, 4 * K4).ShouldBe(Errno.EEXIST, "overlaps slot 0's addresses");
        vm.SetUserMemoryRegion2(0, 0x10_0000, 2 * K4, fd, 0).ShouldBe(Errno.EINVAL, "a guest_memfd slot is not changed");
        vm.SetUserMemoryRegion2(1, 0x20_0000, 4 * K4, fd, 4 * K4).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void GetPfn_GoesThroughTheSlot_AndIsEioOnceUnbound_AndEfaultOnceTheFileIsGone()
    {
        var (f, fds, vm, fd) = NewVm();
        fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, fd, 2 * K4).ShouldBe(Errno.Ok);
        vm.GetPfn(0x101, out ulong pfn, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        file!.TryFindPage(3, out ulong filePfn).ShouldBeTrue("gfn 0x101 is file page 2 + 1");
        pfn.ShouldBe(filePfn);
        vm.GetPfn(0x104, out _, out _).ShouldBe(Errno.EFAULT, "no slot there");

        KvmMemorySlot slot = vm.Slot(0)!;
        GuestMemfdBinding binding = slot.Binding!;
        binding.GetPfn(7, out _, out _).ShouldBe(Errno.EIO, "the page is not in this binding");
        Convert(file, 0, 8 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        slot.Invalidations[(int)InvalidateReason.ToShared].ShouldBe(1);
        slot.InvalidationsInProgress.ShouldBe(0);

        vm.SetUserMemoryRegion2(0, 0x10_0000, 0, fd, 0).ShouldBe(Errno.Ok);
        binding.GetPfn(3, out _, out _).ShouldBe(Errno.EIO, "unbound");
        vm.SetUserMemoryRegion2(0, 0x10_0000, 4 * K4, fd, 2 * K4).ShouldBe(Errno.Ok);
        KvmMemorySlot again = vm.Slot(0)!;
        fds.Close(fd).ShouldBe(Errno.Ok);
        again.Invalidations[(int)InvalidateReason.Truncate].ShouldBe(1, "the release takes the whole file away");
        vm.GetPfn(0x101, out _, out _).ShouldBe(Errno.EFAULT);
        f.User.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void APunchedHole_InvalidatesTheSlot_AndIsRefilledOnTheNextGetPfn()
    {
        var (f, fds, vm, fd) = NewVm();
        fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        vm.SetUserMemoryRegion2(0, 0, 8 * K4, fd, 0).ShouldBe(Errno.Ok);
        vm.GetPfn(2, out ulong before, out _).ShouldBe(Errno.Ok);
        file!.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 2 * K4, K4).ShouldBe(Errno.Ok);
        vm.Slot(0)!.Invalidations[(int)InvalidateReason.Truncate].ShouldBe(1);
        f.User.Pages.IsLive(before).ShouldBeFalse();
        vm.GetPfn(2, out ulong after, out _).ShouldBe(Errno.Ok);
        f.User.Pages.IsLive(after).ShouldBeTrue();
    }
}
