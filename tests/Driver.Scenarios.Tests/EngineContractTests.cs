using Driver.Platform.Iommu;
using Driver.Scenarios.Engine;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>What the engine refuses, and what a result always holds.</summary>
public class EngineContractTests
{
    public static TheoryData<string, ScenarioOptions> BadOptions() => new()
    {
        { "folio", Workloads.Tiny with { FolioSize = 0x10_0000 } },
        { "multiple", Workloads.Tiny with { GuestSize = (4UL << 20) + 0x1000 } },
        { "empty", Workloads.Tiny with { GuestSize = 0 } },
        { "dma rate", Workloads.Tiny with { DmaRate = 0 } },
        { "nan rate", Workloads.Tiny with { DmaRate = double.NaN } },
        { "conversion rate", Workloads.Tiny with { ConversionRate = -1 } },
        { "dma bytes", Workloads.Tiny with { DmaBytes = 8192 } },
        { "duration", Workloads.Tiny with { DurationNs = 0 } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadOptions_AreRefusedWithOneLine_BeforeAnyMachineIsBuilt(string what, ScenarioOptions options)
    {
        string? problem = ScenarioOptionsCheck.Problem(options);
        problem.ShouldNotBeNull(what);
        problem.ShouldNotContain("\n");
        Should.Throw<ArgumentException>(() => new ScenarioEngine().Run(options, new CellKey(StrategyNames.Force4K, RmpGranularity.AmdToday), 1));
    }

    [Fact]
    public void TheDefaultOptions_Pass()
    {
        ScenarioOptionsCheck.Problem(new ScenarioOptions()).ShouldBeNull();
    }

    [Fact]
    public void AnUnknownStrategy_IsRefused()
    {
        Should.Throw<ArgumentException>(() => new ScenarioEngine().Run(Workloads.Tiny, new CellKey("hope", RmpGranularity.AmdToday), 1));
    }

    [Fact]
    public void ACancelledRun_Stops()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Should.Throw<OperationCanceledException>(() =>
            new ScenarioEngine().Run(Workloads.Small, new CellKey(StrategyNames.Sequenced, RmpGranularity.AmdToday), 1, cancel: cancel.Token));
    }

    [Theory]
    [InlineData(0x1000UL)]
    [InlineData(0x20_0000UL)]
    public void EveryTransaction_IsCountedOnce_AndThroughputIsCompletedBytesOverTheDuration(ulong folio)
    {
        var options = Workloads.Small with { FolioSize = folio };
        var m = new ScenarioEngine().Run(options, new CellKey(StrategyNames.Sequenced, RmpGranularity.DeriveSmallest), 5).Metrics;
        // A fixed rate with no stall: every interval of the duration issued one transaction.
        (m.DmaCompleted + m.DmaFaulted).ShouldBe((long)(options.DurationNs * options.DmaRate / 1000));
        m.DmaThroughputGBps.ShouldBe((double)m.DmaCompleted * options.DmaBytes / options.DurationNs, 1e-12);
        m.IotlbMissRate.ShouldBeInRange(0, 1);
        m.SecurityViolations.ShouldBe(0);
    }

    [Fact]
    public void WithFourKFolios_NoStrategyHasAnythingToSplit()
    {
        var options = Workloads.Small with { FolioSize = 0x1000 };
        foreach (var strategy in StrategyNames.All)
        {
            var m = new ScenarioEngine().Run(options, new CellKey(strategy, RmpGranularity.AmdToday), 2).Metrics;
            m.Psmashes.ShouldBe(0, strategy);
            m.DmaFaulted.ShouldBe(0, strategy);
            m.DmaStalled.ShouldBe(0, strategy);
        }
    }
}
