using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>Memslots at their edges: the slot id limit, adjacent ranges, what each refusal prints, deletion, and the VMM's conversion by GPA.</summary>
public sealed class KvmVmMemslotEdgeTests
{
    private const ulong Gpa = 0x10_0000;

    private static (GmemFixture F, FdTable Fds, KvmVm Vm, int Fd, GuestMemfd File) NewVm(ulong size = 16 * K4, CapturedLogs? logs = null)
    {
        var f = new GmemFixture(logs: logs);
        var fds = new FdTable();
        var vm = new KvmVm(f.User.Pages, f.User.Memory, fds, new GuestMemfdOptions { LoggerFactory = logs });
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(size).CopyTo(create);
        vm.CreateGuestMemfd(create, out int fd).ShouldBe(Errno.Ok);
        fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        return (f, fds, vm, fd, file!);
    }

    [Fact]
    public void NullArguments_Throw()
    {
        var f = new GmemFixture();
        var fds = new FdTable();
        Should.Throw<ArgumentNullException>(() => new KvmVm(null!, f.User.Memory, fds));
        Should.Throw<ArgumentNullException>(() => new KvmVm(f.User.Pages, null!, fds));
        Should.Throw<ArgumentNullException>(() => new KvmVm(f.User.Pages, f.User.Memory, null!));
        Should.Throw<ArgumentNullException>(() => KvmVm.Create(f.User.Pages, f.User.Memory, fds, null!, out _));
    }

    [Fact]
    public void TheLastSlotId_IsMaxSlotsLessOne()
    {
        var (_, _, vm, fd, _) = NewVm();
        vm.SetUserMemoryRegion2(KvmVm.MaxSlots, Gpa, K4, fd, 0).ShouldBe(Errno.EINVAL);
        vm.SetUserMemoryRegion2(KvmVm.MaxSlots - 1, Gpa, K4, fd, 0).ShouldBe(Errno.Ok);
        vm.Slot(KvmVm.MaxSlots - 1)!.BaseGfn.ShouldBe(Gpa >> 12);
    }

    [Fact]
    public void SlotsMayTouch_ButNotOverlap()
    {
        var (_, _, vm, fd, _) = NewVm();
        vm.SetUserMemoryRegion2(0, Gpa + (4 * K4), 4 * K4, fd, 4 * K4).ShouldBe(Errno.Ok);
        vm.SetUserMemoryRegion2(1, Gpa, 4 * K4, fd, 0).ShouldBe(Errno.Ok, "ends where slot 0 begins");
        vm.SetUserMemoryRegion2(2, Gpa + (8 * K4), 4 * K4, fd, 8 * K4).ShouldBe(Errno.Ok, "begins where slot 0 ends");
        vm.SetUserMemoryRegion2(3, Gpa + (11 * K4), 2 * K4, fd, 12 * K4).ShouldBe(Errno.EEXIST);
        vm.SetUserMemoryRegion2(3, Gpa - K4, 2 * K4, fd, 12 * K4).ShouldBe(Errno.EEXIST);
        vm.SlotOf((Gpa >> 12) + 8)!.Id.ShouldBe(2);
        vm.SlotOf((Gpa >> 12) + 7)!.Id.ShouldBe(0);
        vm.SlotOf((Gpa >> 12) + 12).ShouldBeNull();
    }

    public static TheoryData<string, Errno, string> Refusals => new()
    {
        { "bad id", Errno.EINVAL, "bad slot, address or size" },
        { "changed", Errno.EINVAL, "a guest_memfd slot cannot be changed, only deleted" },
        { "overlap", Errno.EEXIST, "the guest-physical range overlaps another slot" },
        { "no fd", Errno.EBADF, "no such fd" },
        { "memfd", Errno.EINVAL, "the fd is not a guest_memfd" },
        { "bind", Errno.EINVAL, "the guest_memfd range cannot be bound" },
        { "delete", Errno.EINVAL, "no such slot to delete" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void EachRefusal_IsPrintedWithItsReason(string what, Errno expected, string reason)
    {
        var logs = new CapturedLogs();
        var (f, fds, vm, fd, _) = NewVm(logs: logs);
        vm.SetUserMemoryRegion2(0, Gpa, 4 * K4, fd, 0).ShouldBe(Errno.Ok);
        int memfd = fds.Install(f.User.NewMemFd(K4));
        Errno e = what switch
        {
            "bad id" => vm.SetUserMemoryRegion2(-1, Gpa, K4, fd, 0),
            "changed" => vm.SetUserMemoryRegion2(0, Gpa, 8 * K4, fd, 0),
            "overlap" => vm.SetUserMemoryRegion2(1, Gpa + K4, K4, fd, 8 * K4),
            "no fd" => vm.SetUserMemoryRegion2(1, Gpa + (8 * K4), K4, 99, 0),
            "memfd" => vm.SetUserMemoryRegion2(1, Gpa + (8 * K4), K4, memfd, 0),
            "delete" => vm.SetUserMemoryRegion2(1, Gpa + (8 * K4), 0, fd, 0),
            _ => vm.SetUserMemoryRegion2(1, Gpa + (8 * K4), K4, fd, 0),
        };
        e.ShouldBe(expected);
        var record = logs.Single(6010, LogLevel.Information);
        record.GetStructuredStateValue("Reason").ShouldBe(reason);
        record.GetStructuredStateValue("Errno").ShouldBe(expected.ToString());
        record.GetStructuredStateValue("Slot").ShouldBe(what == "bad id" ? "-1" : what == "changed" ? "0" : "1");
    }

    [Fact]
    public void ADeletedSlot_IsGoneForLookups_AndItsBindingIsUnbound()
    {
        var (_, _, vm, fd, file) = NewVm();
        vm.SetUserMemoryRegion2(0, Gpa, 4 * K4, fd, 0).ShouldBe(Errno.Ok);
        GuestMemfdBinding binding = vm.Slot(0)!.Binding!;
        vm.GetPfn(Gpa >> 12, out _, out _).ShouldBe(Errno.Ok);
        vm.TryGetGfn(file, 0, out ulong gfn).ShouldBeTrue();
        gfn.ShouldBe(Gpa >> 12);
        vm.SetUserMemoryRegion2(0, Gpa, 0, fd, 0).ShouldBe(Errno.Ok);
        vm.SlotOf(Gpa >> 12).ShouldBeNull();
        vm.GetPfn(Gpa >> 12, out _, out _).ShouldBe(Errno.EFAULT);
        vm.TryGetGfn(file, 0, out gfn).ShouldBeFalse();
        gfn.ShouldBe(0UL);
        binding.Bound.ShouldBeFalse();
        vm.SetUserMemoryRegion2(0, Gpa, 0, fd, 0).ShouldBe(Errno.EINVAL, "deleted already");
        vm.SetUserMemoryRegion2(0, Gpa, 4 * K4, fd, 0).ShouldBe(Errno.Ok, "the range may be bound again");
    }

    [Fact]
    public void TryGetGfn_OfAFileNoSlotBinds_IsFalse()
    {
        var (_, _, vm, fd, file) = NewVm();
        var (_, _, _, _, stranger) = NewVm();
        vm.SetUserMemoryRegion2(0, Gpa, 4 * K4, fd, 4 * K4).ShouldBe(Errno.Ok);
        vm.TryGetGfn(stranger, 4, out ulong gfn).ShouldBeFalse();
        gfn.ShouldBe(0UL);
        vm.TryGetGfn(file, 3, out gfn).ShouldBeFalse();
        vm.TryGetGfn(file, 8, out gfn).ShouldBeFalse();
        vm.TryGetGfn(file, 7, out gfn).ShouldBeTrue();
        gfn.ShouldBe((Gpa >> 12) + 3);
    }

    [Fact]
    public void SetMemoryAttributes_ConvertsExactlyTheRange_AcrossSlots()
    {
        var (_, _, vm, fd, file) = NewVm();
        vm.SetUserMemoryRegion2(0, Gpa, 4 * K4, fd, 0).ShouldBe(Errno.Ok);
        vm.SetUserMemoryRegion2(1, Gpa + (4 * K4), 4 * K4, fd, 8 * K4).ShouldBe(Errno.Ok);
        vm.SetMemoryAttributes(Gpa + K4, 5 * K4, toPrivate: false, out _).ShouldBe(Errno.Ok);
        string.Join("", Enumerable.Range(0, 16).Select(i => file.IsPrivate((ulong)i) ? "p" : "s")).ShouldBe("psssppppsspppppp");
    }

    [Fact]
    public void SetMemoryAttributes_OverAGap_IsEfaultAtTheGapsFirstAddress()
    {
        var (_, _, vm, fd, file) = NewVm();
        vm.SetUserMemoryRegion2(0, Gpa, 2 * K4, fd, 0).ShouldBe(Errno.Ok);
        vm.SetMemoryAttributes(Gpa, 4 * K4, toPrivate: false, out ulong errorGpa).ShouldBe(Errno.EFAULT);
        errorGpa.ShouldBe(Gpa + (2 * K4));
        file.IsPrivate(1).ShouldBeFalse("the slot before the gap stays converted, as in a VMM");
        vm.SetMemoryAttributes(Gpa, 0, toPrivate: false, out errorGpa).ShouldBe(Errno.EINVAL);
        errorGpa.ShouldBe(Gpa);
        vm.SetMemoryAttributes(Gpa + 1, K4, toPrivate: false, out _).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void SetMemoryAttributes_GivesTheErrorOffsetAsAGuestAddress_ForASlotAtAFileOffset()
    {
        var (_, _, vm, fd, file) = NewVm();
        vm.SetUserMemoryRegion2(0, Gpa, 4 * K4, fd, 8 * K4).ShouldBe(Errno.Ok);
        var busy = new Mock<IGuestMemfdNotifier>();
        busy.Setup(n => n.ShouldProceed(file, It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<InvalidateReason>())).Returns(Errno.EBUSY);
        using var subscription = file.AddNotifier(busy.Object, 0, 16 * K4);
        vm.SetMemoryAttributes(Gpa + (2 * K4), K4, toPrivate: false, out ulong errorGpa).ShouldBe(Errno.EBUSY);
        errorGpa.ShouldBe(Gpa + (2 * K4));
        busy.Verify(n => n.ShouldProceed(file, 10 * K4, 11 * K4, InvalidateReason.ToShared), Times.Once);
    }
}
