using Driver.Hw.Interfaces;
using Driver.Kernel.Kvm;
using Driver.Platform.Snp;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>SNP's RMP part of guest_memfd on the machine: prepare, split and shared, private and merged, freed.</summary>
public sealed class SnpGuestMemfdArchMachineTests
{
    [Fact]
    public void Prepare_OfA2MFolio_IsOne2MGuestEntry_AtTheSlotsGpa()
    {
        var rig = new SnpRig();
        ulong pfn = rig.Pfn(M2 + (5 * K4));
        rig.File.FolioOrderAt((M2 / K4) + 5).ShouldBe(9);
        rig.Arch.Prepare(Gfn(M2 + (5 * K4)), pfn, 9, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        var entry = rig.Entry(pfn, out bool is2M);
        is2M.ShouldBeTrue();
        RmpStates.Classify(entry).ShouldBe(RmpState.GuestInvalid);
        entry.Asid.ShouldBe(Asid);
        entry.Gpa.ShouldBe(GuestBase + M2);
        rig.Arch.RmpOrder(pfn).ShouldBe(9);
        rig.Arch.Prepare(Gfn(M2), pfn - 5, 9, out order).ShouldBe(Errno.Ok, "prepared once");
        order.ShouldBe(9);
    }

    [Fact]
    public void A4KPage_GoesSharedAndBack_AndAnUnvalidatedRunIsOne2MEntryAgain()
    {
        var rig = new SnpRig();
        ulong head = rig.Pfn(0);
        rig.Arch.Prepare(Gfn(0), head, 9, out _).ShouldBe(Errno.Ok);

        rig.Convert(3 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.File.FolioOrderAt(3).ShouldBe(0);
        rig.State(head + 3).ShouldBe(RmpState.Hypervisor);
        rig.Entry(head + 4, out bool is2M).Gpa.ShouldBe(GuestBase + (4 * K4));
        is2M.ShouldBeFalse();
        rig.State(head + 4).ShouldBe(RmpState.GuestInvalid);
        rig.Arch.RmpOrder(head + 3).ShouldBe(-1);
        rig.Arch.RmpOrder(head + 4).ShouldBe(0);

        rig.Convert(3 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        rig.File.FolioOrderAt(3).ShouldBe(9);
        rig.Entry(head + 3, out is2M).Gpa.ShouldBe(GuestBase, "the 2M entry's GPA is the run's");
        is2M.ShouldBeTrue();
        rig.Arch.RmpOrder(head).ShouldBe(9);
    }

    [Fact]
    public void WhenTheGuestValidatedTheRun_TheMergeKeeps4KEntries_ThatStillFoldIntoOneLater()
    {
        var rig = new SnpRig();
        ulong head = rig.Pfn(0);
        rig.Arch.Prepare(Gfn(0), head, 9, out _).ShouldBe(Errno.Ok);
        ISnpGuestCpu guest = rig.Machine.GuestCpu(Asid);
        guest.Pvalidate(GuestBase, head << 12, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.Success);

        rig.Convert(7 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.State(head + 8).ShouldBe(RmpState.GuestValid, "PSMASH keeps Validated");
        rig.Convert(7 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        rig.File.FolioOrderAt(7).ShouldBe(9, "the folio merges");
        rig.Entry(head, out bool is2M);
        is2M.ShouldBeFalse("RMPUPDATE at 2M would clear the guest's validated pages: the CPU says OVERLAP");
        rig.State(head + 7).ShouldBe(RmpState.GuestInvalid);
        rig.State(head + 8).ShouldBe(RmpState.GuestValid);
        rig.Arch.RmpOrder(head + 7).ShouldBe(0);
    }

    [Fact]
    public void PunchingTheHole_GivesThePagesBackToTheHypervisor_BeforeTheyAreFreed()
    {
        var rig = new SnpRig();
        ulong head = rig.Pfn(0);
        rig.Arch.Prepare(Gfn(0), head, 9, out _).ShouldBe(Errno.Ok);
        ulong small = rig.Pfn(M2);
        rig.Convert(M2, K4, toPrivate: false).ShouldBe(Errno.Ok);
        rig.Convert(M2, K4, toPrivate: true).ShouldBe(Errno.Ok);

        rig.File.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 0, 2 * M2).ShouldBe(Errno.Ok);
        rig.State(head).ShouldBe(RmpState.Hypervisor);
        rig.Entry(head, out bool is2M);
        is2M.ShouldBeFalse();
        rig.State(small).ShouldBe(RmpState.Hypervisor);
        rig.Frames.IsAllocated(head << 12).ShouldBeFalse();
        rig.Arch.TrackedBlocks.ShouldBe(0);
    }
}
