using Driver.Kernel;
using Driver.Scenarios.Actors;
using Driver.Scenarios.Engine;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>
/// The run's VM has KVM's stage-2 table, which KVM keeps itself (the memslot's guest_memfd notifier zaps and
/// splits it, the guest's PVALIDATE faults pages in). `mirrored-s2`'s owner keeps the trusted IOMMU table identical
/// to it after every step; `sequenced` does not: the shared page stays in the IOMMU table, where the RMP refuses it.
/// </summary>
public sealed class StageTwoMirrorTests
{
    private static (Testbed Bed, Vmm Vmm) BringUp(string name)
    {
        var (bed, strategy) = BroughtUp.Run(name);
        return (bed, new Vmm(bed, strategy, new ConversionState(bed.Layout), null));
    }

    // Per 4 KiB page of the block: mapped, level (0 = 4 KiB, 1 = 2 MiB) and frame, in the trusted IOMMU table and in stage 2.
    private static (bool Mapped, int Level, ulong Pa)[] Iommu(Testbed bed, int block) =>
        [.. Pages(bed, block).Select(gpa => BroughtUp.TrustedLeaf(bed, gpa))];

    private static (bool Mapped, int Level, ulong Pa)[] Stage2(Testbed bed, int block) =>
        [.. Pages(bed, block).Select(gpa => bed.Vm!.Stage2!.TryLookup(gpa >> 12, out ulong pfn, out int order, out _)
            ? (true, order == 9 ? 1 : 0, pfn << 12)
            : (false, 0, 0UL))];

    private static IEnumerable<ulong> Pages(Testbed bed, int block) =>
        Enumerable.Range(0, GuestLayout.PagesPer2M).Select(i => bed.Layout.BlockGpa(block) + ((ulong)i * GuestLayout.Page4K));

    [Fact]
    public void MirroredS2_KeepsTheIommuTableIdenticalToKvmsStage2_AfterEveryStep()
    {
        var (bed, vmm) = BringUp(StrategyNames.MirroredS2);
        for (int block = 0; block < bed.Layout.Blocks; block++)
        {
            Iommu(bed, block).ShouldBe(Stage2(bed, block));
            Stage2(bed, block)[0].Level.ShouldBe(1, "every block starts as one 2 MiB leaf on both sides");
        }
        ulong first = (2UL * GuestLayout.PagesPer2M) + 5;
        ulong second = first + 40;
        vmm.ToShared(first).ShouldBe(Errno.Ok);
        Iommu(bed, 2).ShouldBe(Stage2(bed, 2));
        Stage2(bed, 2)[5].Mapped.ShouldBeFalse();
        Stage2(bed, 2)[6].Level.ShouldBe(0);
        vmm.ToShared(second).ShouldBe(Errno.Ok);
        Iommu(bed, 2).ShouldBe(Stage2(bed, 2));
        vmm.ToPrivate(first).ShouldBe(Errno.Ok);
        bed.FaultIn(bed.Layout.Gpa(first)).ShouldBe(Errno.Ok);
        Iommu(bed, 2).ShouldBe(Stage2(bed, 2));
        Stage2(bed, 2)[5].ShouldBe((true, 0, bed.Layout.Spa(first)));
        // The whole block private again: still 4 KiB on both sides, for the RMP entries stay 4 KiB.
        vmm.ToPrivate(second).ShouldBe(Errno.Ok);
        bed.FaultIn(bed.Layout.Gpa(second)).ShouldBe(Errno.Ok);
        Iommu(bed, 2).ShouldBe(Stage2(bed, 2));
        Stage2(bed, 2)[45].ShouldBe((true, 0, bed.Layout.Spa(second)));
        Iommu(bed, 1).ShouldBe(Stage2(bed, 1));
        bed.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Sequenced_LeavesTheSharedPageInTheIommuTable_WhereStage2HasNone()
    {
        var (bed, vmm) = BringUp(StrategyNames.Sequenced);
        ulong page = (2UL * GuestLayout.PagesPer2M) + 5;
        vmm.ToShared(page).ShouldBe(Errno.Ok);
        Stage2(bed, 2)[5].Mapped.ShouldBeFalse();
        Iommu(bed, 2)[5].ShouldBe((true, 0, bed.Layout.Spa(page)));
    }
}
