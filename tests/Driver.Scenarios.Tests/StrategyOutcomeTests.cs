using Driver.Platform.Iommu;
using Driver.Platform.Psp;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>Each strategy on a small workload: the outcome its mechanism implies, under each hardware rule.</summary>
public class StrategyOutcomeTests
{
    private static (RunResult Result, RecordingSink Trace) Run(string strategy, RmpGranularity rule, ulong seed = 1, ScenarioOptions? options = null)
    {
        var trace = new RecordingSink();
        var result = new ScenarioEngine().Run(options ?? Workloads.Small, new CellKey(strategy, rule), seed, trace);
        result.Metrics.SecurityViolations.ShouldBe(0);
        result.Findings.ShouldBeEmpty();
        result.Metrics.ConversionsFailed.ShouldBe(0);
        return (result, trace);
    }

    [Fact]
    public void Sequenced_UnderAmdToday_FailsDmaToTheRestOfThe2MPage_OnlyWhileAShareIsInProgress()
    {
        var (result, trace) = Run(StrategyNames.Sequenced, RmpGranularity.AmdToday);
        var m = result.Metrics;
        m.DmaRmpFaults.ShouldBeGreaterThan(0);
        m.DmaPageFaults.ShouldBe(0);
        m.DmaFaulted.ShouldBe(m.DmaRmpFaults);
        var faults = trace.Instants.Where(i => i.Name == "rmp-fault").ToList();
        faults.Count.ShouldBe((int)m.DmaRmpFaults);
        // The window is between the cut of the IOPTE and the PSMASH: inside the VMM's share, never elsewhere.
        faults.ShouldAllBe(f => trace.InsideVmm("to-shared", f.Time));
        m.DmaStalled.ShouldBe(0);
    }

    [Fact]
    public void Sequenced_UnderDeriveSmallest_FailsNoDma_WithTheSameCommands()
    {
        var today = Run(StrategyNames.Sequenced, RmpGranularity.AmdToday).Result.Metrics;
        var derive = Run(StrategyNames.Sequenced, RmpGranularity.DeriveSmallest).Result.Metrics;
        derive.DmaFaulted.ShouldBe(0);
        derive.DmaCompleted.ShouldBeGreaterThan(today.DmaCompleted);
        derive.Psmashes.ShouldBe(today.Psmashes);
        derive.IotlbFlushes.ShouldBe(today.IotlbFlushes);
    }

    [Theory]
    [InlineData(RmpGranularity.AmdToday)]
    [InlineData(RmpGranularity.DeriveSmallest)]
    public void FwSmash_FailsNoDma_ButStallsIt_ForNoLongerThanTheFirmwareCall(RmpGranularity rule)
    {
        var m = Run(StrategyNames.FwSmash, rule).Result.Metrics;
        m.DmaFaulted.ShouldBe(0);
        m.DmaStalled.ShouldBeGreaterThan(0);
        m.StallMaxNs.ShouldBeGreaterThan(0);
        m.StallMaxNs.ShouldBeLessThanOrEqualTo(new PspConfig().IopdeSmashStallNs);
        m.FirmwareCommands.ShouldBeGreaterThan(0);
        // Firmware edits the IOMMU table: the host flushes nothing itself.
        m.IotlbFlushes.ShouldBe(0);
    }

    [Theory]
    [InlineData(RmpGranularity.AmdToday)]
    [InlineData(RmpGranularity.DeriveSmallest)]
    public void Force4K_NeverFaultsOnSize_NorSmashesNorFlushes(RmpGranularity rule)
    {
        var m = Run(StrategyNames.Force4K, rule).Result.Metrics;
        m.DmaFaulted.ShouldBe(0);
        m.DmaStalled.ShouldBe(0);
        m.Psmashes.ShouldBe(0);
        m.IotlbFlushes.ShouldBe(0);
        m.Conversions.ShouldBeGreaterThan(0);
        // One RMPUPDATE each way per round trip (a share still in flight at the end adds one).
        m.RmpUpdates.ShouldBeInRange(2 * m.Conversions, (2 * m.Conversions) + 1);
    }

    [Fact]
    public void Force4K_PaysInPageTablePages_WhereHugePagesStartWithFewer()
    {
        var options = Workloads.Small with { ConversionRate = 0.001 };
        long force = Run(StrategyNames.Force4K, RmpGranularity.AmdToday, options: options).Result.Metrics.IoPageTablePages;
        long huge = Run(StrategyNames.Sequenced, RmpGranularity.AmdToday, options: options).Result.Metrics.IoPageTablePages;
        // Four 2 MiB blocks: four 4 KiB tables more when every block is 512 IOPTEs.
        force.ShouldBe(huge + 4);
    }

    [Fact]
    public void GmemNotify_UnderAmdToday_HasTheSequencedWindow_AndFlushesMoreForItsZapAndRemap()
    {
        var (result, trace) = Run(StrategyNames.GmemNotify, RmpGranularity.AmdToday);
        var m = result.Metrics;
        m.DmaRmpFaults.ShouldBeGreaterThan(0);
        trace.Instants.Where(i => i.Name == "rmp-fault").ShouldAllBe(f => trace.InsideVmm("to-shared", f.Time));
        var sequenced = Run(StrategyNames.Sequenced, RmpGranularity.AmdToday).Result.Metrics;
        m.IotlbFlushes.ShouldBeGreaterThan(sequenced.IotlbFlushes);
    }

    [Fact]
    public void GmemNotify_UnderDeriveSmallest_FailsNoDma()
    {
        Run(StrategyNames.GmemNotify, RmpGranularity.DeriveSmallest).Result.Metrics.DmaFaulted.ShouldBe(0);
    }

    [Theory]
    [InlineData(RmpGranularity.AmdToday)]
    [InlineData(RmpGranularity.DeriveSmallest)]
    public void MirroredS2_FailsNoDma_AndStallsNone_WithoutAHostFlush(RmpGranularity rule)
    {
        var m = Run(StrategyNames.MirroredS2, rule).Result.Metrics;
        m.DmaFaulted.ShouldBe(0);
        m.DmaStalled.ShouldBe(0);
        m.IotlbFlushes.ShouldBe(0);
        m.Psmashes.ShouldBeGreaterThan(0);
        m.Conversions.ShouldBeGreaterThan(0);
    }

    [Fact]
    public void Sequenced_FlushesAreEachFollowedByACompletionWait()
    {
        var m = Run(StrategyNames.Sequenced, RmpGranularity.DeriveSmallest).Result.Metrics;
        m.IotlbFlushes.ShouldBeGreaterThan(0);
        m.CommandsIssued.ShouldBe(2 * m.IotlbFlushes);
    }

    [Fact]
    public void TheUntrustedDevice_ReachesSharedPagesOnly_AndIsNeverRefused()
    {
        var options = Workloads.Small with { UntrustedDevice = true };
        var m = Run(StrategyNames.Sequenced, RmpGranularity.DeriveSmallest, options: options).Result.Metrics;
        m.UntrustedDmaCompleted.ShouldBeGreaterThan(0);
        m.UntrustedDmaFaulted.ShouldBe(0);
    }
}
