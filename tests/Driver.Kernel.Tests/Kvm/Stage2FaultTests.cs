using Driver.Kernel.Kvm;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>Fault-in on the SNP machine: the order from guest_memfd, the RMP and the memslot; retry while invalidating; stage-2 zaps.</summary>
public sealed class Stage2FaultTests
{
    [Fact]
    public void APrivateFault_OnA2MFolio_IsPreparedAndMappedAt2M()
    {
        var rig = new SnpRig();
        rig.Vcpu.FaultIn(GuestBase + M2 + (7 * K4), isPrivate: true, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        ulong head = rig.Pfn(M2);
        rig.Stage2.TryLookup(Gfn(M2 + (9 * K4)), out ulong pfn, out int mapped, out bool isPrivate).ShouldBeTrue();
        pfn.ShouldBe(head + 9);
        mapped.ShouldBe(9);
        isPrivate.ShouldBeTrue();
        rig.Entry(head, out bool is2M).Gpa.ShouldBe(GuestBase + M2);
        is2M.ShouldBeTrue();
        rig.State(head).ShouldBe(RmpState.GuestInvalid);
        rig.Stage2.MappedPages.ShouldBe(512);
        rig.Vcpu.FaultIn(GuestBase + M2, isPrivate: true, out order).ShouldBe(Errno.Ok, "a spurious fault");
        order.ShouldBe(9);
        rig.Logs.All.Count(r => r.Id.Id == 6031).ShouldBe(1);
    }

    [Fact]
    public void WithoutHugePages_AFaultIs4K_AndSoIsTheRmpEntry()
    {
        var rig = new SnpRig(huge: false);
        rig.Vcpu.FaultIn(GuestBase + (3 * K4), isPrivate: true, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        ulong pfn = rig.Pfn(3 * K4);
        rig.Entry(pfn, out bool is2M).Gpa.ShouldBe(GuestBase + (3 * K4));
        is2M.ShouldBeFalse();
        rig.Stage2.MappedPages.ShouldBe(1);
    }

    [Fact]
    public void AMemslotAtAnotherAlignment_CapsTheFaultAt4K()
    {
        var rig = new SnpRig(bind: false);
        rig.Vm.SetUserMemoryRegion2(0, GuestBase + K4, 2 * M2, rig.Fd, 0).ShouldBe(Errno.Ok);
        rig.Vcpu.FaultIn(GuestBase + K4, isPrivate: true, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        rig.Pfn(0);
        rig.File.FolioOrderAt(0).ShouldBe(9);
        rig.Arch.RmpOrder(rig.Pfn(0)).ShouldBe(0, "the GPA and the frame differ within 2M: a 4K RMP entry");
    }

    [Fact]
    public void AMemslotShorterThan2M_CapsTheFaultAt4K()
    {
        var rig = new SnpRig(bind: false);
        rig.Vm.SetUserMemoryRegion2(0, GuestBase, M2 / 2, rig.Fd, 0).ShouldBe(Errno.Ok);
        rig.Vcpu.FaultIn(GuestBase, isPrivate: true, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        rig.Arch.RmpOrder(rig.Pfn(0)).ShouldBe(9, "the folio and its RMP entry are still 2M");
    }

    [Fact]
    public void AnAccessInTheOtherState_IsAMemoryFaultExit_AndOutsideEverySlotEfault()
    {
        var rig = new SnpRig();
        rig.Vcpu.FaultIn(GuestBase, isPrivate: false, out _).ShouldBe(Errno.EFAULT);
        rig.Logs.Single(6029, LogLevel.Information).GetStructuredStateValue("Access").ShouldBe("shared");
        rig.Vcpu.FaultIn(0x1000, isPrivate: true, out _).ShouldBe(Errno.EFAULT);
        rig.Stage2.MappedPages.ShouldBe(0);
        KvmVm.Create(rig.Pages, rig.Machine.KernelMemory, rig.Fds, rig.Psp.Allocator, out KvmVm? plain).ShouldBe(Errno.Ok);
        new KvmVm(rig.Pages, rig.Machine.KernelMemory, rig.Fds).FaultIn(GuestBase, true, out _).ShouldBe(Errno.ENODEV);
        plain!.Destroy().ShouldBe(Errno.Ok);
    }

    [Fact]
    public void WhileAnInvalidationIsInProgress_AFaultInItsRangeIsEagain_AndOneOutsideIsNot()
    {
        var rig = new SnpRig();
        ulong outside = rig.Pfn(M2);
        var seen = new List<Errno>();
        var notifier = new Mock<IGuestMemfdNotifier>();
        notifier.Setup(n => n.ShouldProceed(rig.File, 0, M2, InvalidateReason.ToShared)).Returns(() =>
        {
            KvmMemorySlot slot = rig.Vm.Slot(0)!;
            seen.Add(rig.Vm.FaultIn(GuestBase + K4, isPrivate: true, out _));
            seen.Add(rig.Stage2.Map(Gfn(2 * K4), outside, 0, isPrivate: true, slot, slot.InvalidateSequence));
            seen.Add(rig.Stage2.Map(Gfn(M2), outside, 0, isPrivate: true, slot, slot.InvalidateSequence));
            return Errno.Ok;
        });
        using (rig.File.AddNotifier(notifier.Object, 0, rig.File.Size))
            rig.Convert(0, M2, toPrivate: false).ShouldBe(Errno.Ok);
        seen.ShouldBe([Errno.EAGAIN, Errno.EAGAIN, Errno.Ok]);
        rig.Logs.Single(6030, LogLevel.Debug);
        rig.Stage2.TryLookup(Gfn(M2), out _, out _, out _).ShouldBeTrue();
        rig.Stage2.TryLookup(Gfn(K4), out _, out _, out _).ShouldBeFalse();
        rig.Vm.FaultIn(GuestBase + K4, isPrivate: false, out int order).ShouldBe(Errno.Ok, "after the conversion, shared");
        order.ShouldBe(0);
    }

    [Fact]
    public void AFaultThatRacedAnInvalidation_RetriesByTheSequence()
    {
        var rig = new SnpRig();
        KvmMemorySlot slot = rig.Vm.Slot(0)!;
        long before = slot.InvalidateSequence;
        rig.Convert(3 * M2, K4, toPrivate: false).ShouldBe(Errno.Ok);
        slot.InvalidateSequence.ShouldBe(before + 1);
        rig.Stage2.Map(Gfn(0), rig.Pfn(0), 0, isPrivate: true, slot, before).ShouldBe(Errno.EAGAIN);
        rig.Stage2.Map(Gfn(0), rig.Pfn(0), 0, isPrivate: true, slot, slot.InvalidateSequence).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void ToShared_ZapsOnlyPrivateLeaves_CuttingThe2MLeaf()
    {
        var rig = new SnpRig();
        rig.Vcpu.FaultIn(GuestBase, isPrivate: true, out _).ShouldBe(Errno.Ok);
        long flushes = rig.Stage2.TlbFlushes;
        rig.Convert(5 * K4, 2 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.Stage2.TryLookup(Gfn(5 * K4), out _, out _, out _).ShouldBeFalse();
        rig.Stage2.TryLookup(Gfn(6 * K4), out _, out _, out _).ShouldBeFalse();
        rig.Stage2.TryLookup(Gfn(7 * K4), out ulong pfn, out int order, out bool isPrivate).ShouldBeTrue();
        order.ShouldBe(0);
        isPrivate.ShouldBeTrue();
        pfn.ShouldBe(rig.Pfn(7 * K4));
        rig.Stage2.MappedPages.ShouldBe(510);
        rig.Vm.Slot(0)!.Zapped[(int)InvalidateReason.ToShared].ShouldBe(2);
        rig.Stage2.TlbFlushes.ShouldBeGreaterThan(flushes);
        rig.Logs.All.Count(r => r.Id.Id == 6027).ShouldBe(1);

        rig.Vm.FaultIn(GuestBase + (5 * K4), isPrivate: false, out order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        rig.Convert(4 * K4, 4 * K4, toPrivate: true).ShouldBe(Errno.Ok);
        rig.Stage2.TryLookup(Gfn(5 * K4), out _, out _, out _).ShouldBeFalse("to private zaps the shared leaf");
        rig.Stage2.TryLookup(Gfn(4 * K4), out _, out _, out isPrivate).ShouldBeTrue("and keeps the private ones");
        isPrivate.ShouldBeTrue();
    }

    [Fact]
    public void APunchedHole_ZapsEverything_AndDeletingTheSlotToo()
    {
        var rig = new SnpRig();
        rig.Vcpu.FaultIn(GuestBase, isPrivate: true, out _).ShouldBe(Errno.Ok);
        rig.Vcpu.FaultIn(GuestBase + M2, isPrivate: true, out _).ShouldBe(Errno.Ok);
        rig.File.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, M2, M2).ShouldBe(Errno.Ok);
        rig.Stage2.MappedPages.ShouldBe(512);
        rig.Vm.Slot(0)!.Zapped[(int)InvalidateReason.Truncate].ShouldBe(512);
        rig.Vm.SetUserMemoryRegion2(0, GuestBase, 0, rig.Fd, 0).ShouldBe(Errno.Ok);
        rig.Stage2.MappedPages.ShouldBe(0);
    }

    [Fact]
    public void Fault_At4KAfterASplit_ThenBackTo2M_WhenTheRunIsPrivateAndValidatedOffAgain()
    {
        var rig = new SnpRig();
        rig.Vcpu.FaultIn(GuestBase, isPrivate: true, out _).ShouldBe(Errno.Ok);
        rig.Convert(9 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.Vcpu.FaultIn(GuestBase + (9 * K4), isPrivate: false, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        rig.Stage2.TryLookup(Gfn(10 * K4), out _, out order, out _).ShouldBeTrue();
        order.ShouldBe(0, "the rest of the 2M is 4K leaves now");

        rig.Convert(9 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        rig.File.FolioOrderAt(9).ShouldBe(9);
        rig.Arch.RmpOrder(rig.Pfn(0)).ShouldBe(9, "nothing was validated: RMPUPDATE at 2M");
        rig.Vcpu.FaultIn(GuestBase + (9 * K4), isPrivate: true, out order).ShouldBe(Errno.Ok);
        order.ShouldBe(9, "the 4K leaves are filled and merged");
        rig.Stage2.TryLookup(Gfn(300 * K4), out ulong pfn, out order, out _).ShouldBeTrue();
        order.ShouldBe(9);
        pfn.ShouldBe(rig.Pfn(0) + 300);
        rig.Logs.All.Count(r => r.Id.Id == 6026).ShouldBe(1);
    }
}
