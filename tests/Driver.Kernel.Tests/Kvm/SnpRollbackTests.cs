using Driver.Platform.Snp;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// A conversion that fails part-way on the SNP machine (the n-th RMPUPDATE, the n-th allocation) leaves
/// everything as it was: shareability, folio orders and references, RMP entries, stage-2 leaves outside the range.
/// </summary>
public sealed class SnpRollbackTests
{
    private static (SnpRig Rig, FailingRmp Rmp) Rig()
    {
        FailingRmp? failing = null;
        var rig = new SnpRig(rmp: inner => failing = new FailingRmp(inner));
        return (rig, failing!);
    }

    [Fact]
    public void ToShared_TheNthRmpupdateFails_AndTheSplit2MEntryIsWholeAgain()
    {
        int failures = 0;
        for (int n = 1; n < 20; n++)
        {
            var (rig, rmp) = Rig();
            rig.Vcpu.FaultIn(GuestBase + M2, isPrivate: true, out _).ShouldBe(Errno.Ok);
            rig.Pfn(0);
            rig.Arch.Prepare(Gfn(0), rig.Pfn(0), 9, out _).ShouldBe(Errno.Ok);
            string before = rig.Everything();
            rmp.Arm(n);
            Errno e = rig.Convert(3 * K4, 4 * K4, toPrivate: false);
            rmp.Disarm();
            if (!rmp.Fired)
            {
                e.ShouldBe(Errno.Ok);
                n.ShouldBe(5, "four pages, one RMPUPDATE each");
                break;
            }
            failures++;
            e.ShouldBe(Errno.EFAULT, $"n = {n}");
            rig.Everything().ShouldBe(before, $"n = {n}");
            rig.Entry(rig.Pfn(0), out bool is2M);
            is2M.ShouldBeTrue("UNSMASH undid the PSMASH");
        }
        failures.ShouldBe(4);
    }

    [Fact]
    public void ToPrivate_TheNthRmpupdateFails_AndThePagesStayShared()
    {
        for (int n = 1; n < 20; n++)
        {
            var (rig, rmp) = Rig();
            rig.Arch.Prepare(Gfn(0), rig.Pfn(0), 9, out _).ShouldBe(Errno.Ok);
            rig.Convert(3 * K4, 3 * K4, toPrivate: false).ShouldBe(Errno.Ok);
            rig.Vcpu.FaultIn(GuestBase + (4 * K4), isPrivate: false, out _).ShouldBe(Errno.Ok);
            rig.Vcpu.FaultIn(GuestBase + M2, isPrivate: true, out _).ShouldBe(Errno.Ok);
            string before = rig.Everything();
            rmp.Arm(n);
            Errno e = rig.Convert(3 * K4, 3 * K4, toPrivate: true);
            rmp.Disarm();
            if (n == 4)
            {
                // The merge's 2M RMPUPDATE is the fourth: a failed merge is no failed conversion.
                e.ShouldBe(Errno.Ok);
                rig.File.FolioOrderAt(0).ShouldBe(0, "the folio stays split when the RMP cannot merge");
                rig.State(rig.Pfn(3 * K4)).ShouldBe(RmpState.GuestInvalid);
                continue;
            }
            if (!rmp.Fired)
            {
                e.ShouldBe(Errno.Ok);
                n.ShouldBe(5);
                rig.Arch.RmpOrder(rig.Pfn(0)).ShouldBe(9);
                break;
            }
            e.ShouldBe(Errno.EFAULT, $"n = {n}");
            string after = rig.Everything();
            // should_proceed zapped the range's shared leaf (the guest faults it in again); all else is as it was.
            after.ShouldBe(before.Replace($"0:s:{rig.Pfn(4 * K4):x}", "-"), $"n = {n}");
        }
    }

    [Fact]
    public void ToShared_TheNthAllocationFails_AndNothingChanged()
    {
        int runs = 0;
        for (int n = 1; n < 20; n++)
        {
            var rig = new SnpRig();
            rig.Vcpu.FaultIn(GuestBase + M2, isPrivate: true, out _).ShouldBe(Errno.Ok);
            rig.Arch.Prepare(Gfn(0), rig.Pfn(0), 9, out _).ShouldBe(Errno.Ok);
            string before = rig.Everything();
            rig.FailNth.Arm(n);
            Errno e = rig.Convert(5 * K4, M2, toPrivate: false);
            rig.FailNth.Disarm();
            runs++;
            if (!rig.FailNth.Fired)
            {
                e.ShouldBe(Errno.Ok);
                break;
            }
            e.ShouldBe(Errno.ENOMEM, $"n = {n}");
            // The range reaches into the second 2M, whose private leaf should_proceed zapped.
            rig.GmemState().ShouldBe(before.Split('|')[0] + "|" + before.Split('|')[1] + "|" + before.Split('|')[2], $"n = {n}");
            rig.Rmp().ShouldBe(before.Split('|')[3], $"n = {n}");
        }
        runs.ShouldBe(4, "the range-tree preallocation, two splits, then a clean run");
    }
}
