using Driver.Hw.Interfaces;
using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// The guest's page-state changes on the SNP machine, as a Linux guest makes them: to shared, rescind then
/// ask; to private, ask then validate. KVM exits to the VMM, which converts through guest_memfd and completes.
/// </summary>
public sealed class PageStateChangeTests
{
    private static void Validated2M(SnpRig rig, ulong offset) =>
        rig.Vcpu.Pvalidate(GuestBase + offset, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.Success);

    private static Errno Psc(SnpRig rig, ulong offset, ulong size, bool toPrivate)
    {
        rig.Vcpu.RequestPageStateChange(GuestBase + offset, size, toPrivate, out KvmExit? exit).ShouldBe(Errno.Ok);
        exit!.Reason.ShouldBe(KvmExitReason.Hypercall);
        exit.Nr.ShouldBe(KvmHypercallNr.MapGpaRange);
        exit.Gpa.ShouldBe(GuestBase + offset);
        exit.Size.ShouldBe(size);
        exit.ToPrivate.ShouldBe(toPrivate);
        rig.Vcpu.PendingExit.ShouldBeSameAs(exit);
        Errno e = rig.Vcpu.HandlePageStateChange(exit);
        rig.Vcpu.PendingExit.ShouldBeNull();
        rig.Vcpu.LastPageStateChange.ShouldBe(e);
        return e;
    }

    [Fact]
    public void A4KPageInsideAValidated2M_GoesShared_AndPrivateAgain_AsALinuxGuestDoesIt()
    {
        var rig = new SnpRig();
        Validated2M(rig, 0);
        ulong head = rig.Pfn(0);
        rig.Arch.RmpOrder(head).ShouldBe(9);
        rig.State(head + 3).ShouldBe(RmpState.GuestValid);

        // To shared: the guest rescinds at 4K first; the 2M RMP entry makes it an RMP fault KVM answers with PSMASH.
        rig.Vcpu.Pvalidate(GuestBase + (3 * K4), pageSize2M: false, validate: false).ShouldBe(PvalidateResult.Success);
        rig.Logs.All.Count(r => r.Id.Id == 6041).ShouldBe(1);
        rig.Stage2.TryLookup(Gfn(4 * K4), out _, out int order, out _).ShouldBeTrue();
        order.ShouldBe(0, "the stage-2 leaf was cut before the PSMASH");
        rig.State(head + 3).ShouldBe(RmpState.GuestInvalid);
        rig.State(head + 4).ShouldBe(RmpState.GuestValid);
        Psc(rig, 3 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.State(head + 3).ShouldBe(RmpState.Hypervisor);
        rig.File.IsPrivate(3).ShouldBeFalse();
        rig.File.FolioOrderAt(3).ShouldBe(0);
        rig.Stage2.TryLookup(Gfn(3 * K4), out _, out _, out _).ShouldBeFalse();
        rig.Vcpu.FaultIn(GuestBase + (3 * K4), isPrivate: false, out order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);

        // To private: the guest asks first, then validates the page at 4K.
        Psc(rig, 3 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        rig.File.FolioOrderAt(3).ShouldBe(9, "the folio is whole again");
        rig.State(head + 3).ShouldBe(RmpState.GuestInvalid);
        rig.Arch.RmpOrder(head + 3).ShouldBe(0, "the other 511 pages are validated: the RMP stays 4K");
        rig.Stage2.TryLookup(Gfn(3 * K4), out _, out _, out _).ShouldBeFalse("the shared leaf was zapped");
        rig.Vcpu.Pvalidate(GuestBase + (3 * K4), pageSize2M: false, validate: true).ShouldBe(PvalidateResult.Success);
        rig.Stage2.TryLookup(Gfn(3 * K4), out ulong pfn, out order, out bool isPrivate).ShouldBeTrue();
        (pfn, order, isPrivate).ShouldBe((head + 3, 0, true));
        rig.State(head + 3).ShouldBe(RmpState.GuestValid);
        rig.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void AWhole2M_GoesSharedAndBack_AndIsOne2MEntry_MappedAt2M_AfterTheGuestValidatesIt()
    {
        var rig = new SnpRig();
        Validated2M(rig, M2);
        ulong head = rig.Pfn(M2);
        rig.Vcpu.Pvalidate(GuestBase + M2, pageSize2M: true, validate: false).ShouldBe(PvalidateResult.Success);
        Psc(rig, M2, M2, toPrivate: false).ShouldBe(Errno.Ok);
        rig.State(head).ShouldBe(RmpState.Hypervisor);
        rig.File.FolioOrderAt(M2 / K4).ShouldBe(0);
        Psc(rig, M2, M2, toPrivate: true).ShouldBe(Errno.Ok);
        rig.File.FolioOrderAt(M2 / K4).ShouldBe(9);
        rig.Arch.RmpOrder(head).ShouldBe(9, "the whole run was validated-off: RMPUPDATE at 2M");
        Validated2M(rig, M2);
        rig.Stage2.TryLookup(Gfn(M2), out _, out int order, out _).ShouldBeTrue();
        order.ShouldBe(9);
        rig.State(head + 100).ShouldBe(RmpState.GuestValid);
    }

    [Fact]
    public void ABadRange_IsRefusedWithoutAnExit_AndOneExitAtATime()
    {
        var rig = new SnpRig();
        rig.Vcpu.RequestPageStateChange(GuestBase + 1, K4, false, out KvmExit? exit).ShouldBe(Errno.EINVAL);
        exit.ShouldBeNull();
        rig.Vcpu.LastPageStateChange.ShouldBe(Errno.EINVAL);
        rig.Vcpu.RequestPageStateChange(GuestBase, 0, false, out _).ShouldBe(Errno.EINVAL);
        rig.Vcpu.RequestPageStateChange(ulong.MaxValue - K4 + 1, 2 * K4, false, out _).ShouldBe(Errno.EINVAL);
        rig.Vcpu.RequestPageStateChange(GuestBase, M2, false, out exit).ShouldBe(Errno.Ok);
        exit!.Attributes.ShouldBe((ulong)KvmMapGpaRangeFlags.PageSize2M);
        rig.Vcpu.RequestPageStateChange(GuestBase, K4, false, out _).ShouldBe(Errno.EBUSY);
        rig.Logs.All.Count(r => r.Id.Id == 6040).ShouldBe(4);
        var stranger = exit with { Gpa = 0 };
        rig.Vcpu.CompletePageStateChange(stranger, Errno.Ok).ShouldBe(Errno.EINVAL);
        rig.Vcpu.HandlePageStateChange(stranger).ShouldBe(Errno.EINVAL);
        rig.Vcpu.CompletePageStateChange(exit, Errno.EAGAIN).ShouldBe(Errno.Ok);
        rig.Vcpu.LastPageStateChange.ShouldBe(Errno.EAGAIN);
        rig.File.IsPrivate(0).ShouldBeTrue("the VMM refused: nothing changed");
        rig.Vcpu.CompletePageStateChange(exit, Errno.Ok).ShouldBe(Errno.EINVAL, "completed once");
    }

    [Fact]
    public void ARangeOutsideTheMemslots_FailsInTheVmm_WithEfault()
    {
        var rig = new SnpRig();
        Psc(rig, 4 * M2, K4, toPrivate: false).ShouldBe(Errno.EFAULT);
        rig.Vm.SetMemoryAttributes(GuestBase + 1, K4, false, out _).ShouldBe(Errno.EINVAL);
        rig.Vm.SetMemoryAttributes(GuestBase, 0, false, out _).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void ToPrivate_WithAnExtraReference_IsEagain_AtThatPagesGpa_AndChangesNothing()
    {
        var rig = new SnpRig();
        Psc(rig, 0, 8 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.Vcpu.FaultIn(GuestBase + (5 * K4), isPrivate: false, out _).ShouldBe(Errno.Ok);
        ulong pinned = rig.Pfn(5 * K4);
        rig.Pages.Get(pinned);
        string before = rig.Everything();
        rig.Vm.SetMemoryAttributes(GuestBase, 8 * K4, toPrivate: true, out ulong errorGpa).ShouldBe(Errno.EAGAIN);
        errorGpa.ShouldBe(GuestBase + (5 * K4));
        rig.Logs.Single(6002, LogLevel.Information);
        string after = rig.Everything();
        after.Split('|')[0].ShouldBe(before.Split('|')[0], "shareability");
        after.Split('|')[3].ShouldBe(before.Split('|')[3], "RMP");
        rig.Stage2.TryLookup(Gfn(5 * K4), out _, out _, out _).ShouldBeFalse("should_proceed zapped the shared leaf; it is faulted in again");
        rig.Pages.Put(pinned);
        Psc(rig, 0, 8 * K4, toPrivate: true).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void Pvalidate_OfAPageNoSlotHolds_IsANestedPageFault_AndWithoutAnSnpCpuFailInput()
    {
        var rig = new SnpRig();
        rig.Vcpu.Pvalidate(0x1000, pageSize2M: false, validate: true).ShouldBe(PvalidateResult.NestedPageFault);
        rig.Vcpu.Pvalidate(GuestBase + K4, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.FailInput);
        Psc(rig, 0, K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.Vcpu.Pvalidate(GuestBase, pageSize2M: false, validate: true).ShouldBe(PvalidateResult.NestedPageFault, "a shared page");
        KvmVm.Create(rig.Pages, rig.Machine.KernelMemory, rig.Fds, rig.Psp.Allocator, out KvmVm? plain).ShouldBe(Errno.Ok);
        plain!.CreateVcpu(null, out KvmVcpu? vcpu).ShouldBe(Errno.Ok);
        vcpu!.Pvalidate(GuestBase, false, true).ShouldBe(PvalidateResult.FailInput);
    }
}
