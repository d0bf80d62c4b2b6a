using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>Fault-in on a VM without protected memory: the memslot decides 2M or 4K (kvm_mmu_hugepage_adjust), and a fault in the wrong state exits.</summary>
public sealed class FaultInOrderTests
{
    private static (KvmVm Vm, GuestMemfd File, int Fd, CapturedLogs Logs) NewVm(ulong size, bool huge = true, GuestMemfdFlags flags = 0)
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(frames: 4096, logs: logs);
        var fds = new FdTable();
        var tables = new FrameAllocator(f.User.Memory, 0x2000_0000, 512 * Page.Size, logs);
        KvmVm.Create(f.User.Pages, f.User.Memory, fds, tables, out KvmVm? vm, new GuestMemfdOptions { HugePages = huge, LoggerFactory = logs })
            .ShouldBe(Errno.Ok);
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(size).WithFlags((ulong)flags).CopyTo(create);
        vm!.CreateGuestMemfd(create, out int fd).ShouldBe(Errno.Ok);
        fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        return (vm, file!, fd, logs);
    }

    [Fact]
    public void ASlotOfExactlyOne2M_AtA2MGfnWithBit9Set_IsMappedAt2M()
    {
        var (vm, file, fd, _) = NewVm(M2);
        vm.SetUserMemoryRegion2(0, 0x200UL << 12, M2, fd, 0).ShouldBe(Errno.Ok);
        vm.FaultIn((0x200UL << 12) + (5 * K4), isPrivate: true, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        file.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        vm.Stage2!.TryLookup(0x3FF, out ulong pfn, out int mapped, out bool isPrivate).ShouldBeTrue();
        (pfn, mapped, isPrivate).ShouldBe((head + 511, 9, true));
    }

    [Fact]
    public void ASlotWhoseGfnsAndFilePagesDifferWithin2M_IsMappedAt4K()
    {
        var (vm, file, fd, _) = NewVm(2 * M2);
        vm.SetUserMemoryRegion2(0, 0x201UL << 12, 2 * M2, fd, 0).ShouldBe(Errno.Ok);
        vm.FaultIn(0x400UL << 12, isPrivate: true, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        file.FolioOrderAt(0x1FF).ShouldBe(9);
        file.GetPfn(0x1FF, out ulong expected, out _).ShouldBe(Errno.Ok);
        vm.Stage2!.TryLookup(0x400, out ulong pfn, out int mapped, out _).ShouldBeTrue();
        (pfn, mapped).ShouldBe((expected, 0));
        vm.Stage2.MappedPages.ShouldBe(1);
    }

    [Fact]
    public void AFaultInTheOtherState_IsAMemoryFaultExit_NamingTheAccess()
    {
        var (vm, _, fd, logs) = NewVm(4 * K4, huge: false);
        vm.SetUserMemoryRegion2(0, 0x100UL << 12, 4 * K4, fd, 0).ShouldBe(Errno.Ok);
        vm.FaultIn((0x100UL << 12) + K4, isPrivate: false, out _).ShouldBe(Errno.EFAULT);
        var exit = logs.Single(6029, LogLevel.Information);
        exit.GetStructuredStateValue("Access").ShouldBe("shared");
        exit.GetStructuredStateValue("Gpa").ShouldBe(CapturedLogs.Value((0x100UL << 12) + K4));
        exit.Category.ShouldBe("Driver.Kernel.Kvm.KvmVm");

        vm.SetMemoryAttributes(0x100UL << 12, K4, toPrivate: false, out _).ShouldBe(Errno.Ok);
        vm.FaultIn(0x100UL << 12, isPrivate: true, out _).ShouldBe(Errno.EFAULT);
        logs.All.Where(r => r.Id.Id == 6029).Select(r => r.GetStructuredStateValue("Access")).ToArray().ShouldBe(new string?[] { "shared", "private" });
        vm.FaultIn(0x100UL << 12, isPrivate: false, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
    }

    [Fact]
    public void TheStage2Table_PrintsUnderItsOwnCategory()
    {
        var (vm, _, fd, logs) = NewVm(M2);
        vm.SetUserMemoryRegion2(0, 0x200UL << 12, M2, fd, 0).ShouldBe(Errno.Ok);
        vm.FaultIn(0x200UL << 12, isPrivate: true, out _).ShouldBe(Errno.Ok);
        vm.SetMemoryAttributes(0x200UL << 12, K4, toPrivate: false, out _).ShouldBe(Errno.Ok);
        logs.Single(6027, LogLevel.Debug).Category.ShouldBe("Driver.Kernel.Kvm.KvmStage2");
        logs.Single(6001, LogLevel.Debug).Category.ShouldBe("Driver.Kernel.Kvm.GuestMemfd");
    }
}
