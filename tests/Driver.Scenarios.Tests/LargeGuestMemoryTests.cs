using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>
/// What a large guest costs the host. force-4k maps every 4 KiB of the guest for the TDI: one leaf table
/// per 2 MiB, each filled in address order, so each is kept as a run of words rather than 4 KiB.
/// </summary>
public sealed class LargeGuestMemoryTests
{
    [Fact]
    public void Force4K_OnAGibibyteGuest_KeepsItsLeafTablesAsRuns()
    {
        var (bed, _) = BroughtUp.Run(StrategyNames.Force4K, Workloads.Small with { GuestSize = 1UL << 30 });
        var memory = bed.Machine.Memory;
        long runs = memory.TouchedFrames - memory.DenseFrames;
        // 512 leaf tables for the guest's 512 blocks, every one a run.
        runs.ShouldBeGreaterThanOrEqualTo(512);
        memory.DenseFrames.ShouldBeLessThan(runs / 4);
        BroughtUp.TrustedLeaf(bed, bed.Layout.Gpa(777)).ShouldBe((true, 0, bed.Layout.Spa(777)));
    }
}
