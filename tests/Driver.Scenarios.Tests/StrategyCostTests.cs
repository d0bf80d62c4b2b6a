using Driver.Platform.Iommu;
using Driver.Scenarios.Strategies;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>What the firmware-side strategies cost, as the result counts it, and a guest whose last 2 MiB is partial.</summary>
public sealed class StrategyCostTests
{
    private static RunMetrics Run(string strategy, ScenarioOptions? options = null, RmpGranularity rule = RmpGranularity.AmdToday)
    {
        var result = new ScenarioEngine().Run(options ?? Workloads.Small, new CellKey(strategy, rule), 1);
        result.Metrics.SecurityViolations.ShouldBe(0);
        result.Metrics.ConversionsFailed.ShouldBe(0);
        return result.Metrics;
    }

    [Fact]
    public void FwSmash_CountsTheFirmwaresSmashesAsPsmashes()
    {
        var m = Run(StrategyNames.FwSmash);
        m.FirmwareCommands.ShouldBeGreaterThan(0);
        // Each IOPDE-smash call splits one 2 MiB RMP entry; the host issues no PSMASH of its own.
        m.Psmashes.ShouldBeGreaterThan(0);
        m.Psmashes.ShouldBeLessThanOrEqualTo(m.FirmwareCommands);
    }

    [Fact]
    public void MirroredS2_CountsTheOwnersRmpWrites_OneEachWayPerRoundTrip_AndWaitsForTwoCallsARoundTrip()
    {
        var m = Run(StrategyNames.MirroredS2);
        m.Conversions.ShouldBeGreaterThan(0);
        m.RmpUpdates.ShouldBeInRange(2 * m.Conversions, (2 * m.Conversions) + 1);
        m.ConversionP50Ns.ShouldBeGreaterThanOrEqualTo(2 * MirroredS2Strategy.SecureCallNs);
    }

    [Theory]
    [InlineData(StrategyNames.Force4K)]
    [InlineData(StrategyNames.Sequenced)]
    [InlineData(StrategyNames.MirroredS2)]
    public void AGuestOf4KFolios_WhoseLast2MIsPartial_RunsClean(string strategy)
    {
        var options = Workloads.Small with { GuestSize = (4UL << 20) + (64UL << 10), FolioSize = 4096 };
        var m = Run(strategy, options);
        m.Conversions.ShouldBeGreaterThan(0);
        m.DmaFaulted.ShouldBe(0, "4 KiB folios: every page is its own RMP entry and I/O page from boot");
    }
}
