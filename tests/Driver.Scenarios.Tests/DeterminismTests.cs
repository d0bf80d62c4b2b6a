using Driver.Platform.Iommu;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>A run is a function of its options, cell and seed; the seed chooses the interleaving.</summary>
public class DeterminismTests
{
    private static (RunResult Result, RecordingSink Trace) Run(CellKey cell, ulong seed, bool linearFrames = true)
    {
        var trace = new RecordingSink();
        var engine = new ScenarioEngine { LinearFrames = linearFrames };
        return (engine.Run(Workloads.Small with { UntrustedDevice = true }, cell, seed, trace), trace);
    }

    public static TheoryData<string> Strategies() => [.. StrategyNames.All];

    [Theory]
    [MemberData(nameof(Strategies))]
    public void TheSameSeed_GivesTheSameResultAndTheSameTimeline(string strategy)
    {
        var cell = new CellKey(strategy, RmpGranularity.AmdToday);
        var (a, traceA) = Run(cell, 7);
        var (b, traceB) = Run(cell, 7);
        b.Metrics.ShouldBe(a.Metrics);
        b.Findings.ShouldBe(a.Findings);
        traceB.Spans.ShouldBe(traceA.Spans);
        traceB.Instants.ShouldBe(traceA.Instants);
    }

    // How memory keeps its frames is the host's business: the machine must not behave differently.
    [Theory]
    [MemberData(nameof(Strategies))]
    public void FramesStoredWhole_GiveTheSameResultAndTimelineAsRuns(string strategy)
    {
        var cell = new CellKey(strategy, RmpGranularity.DeriveSmallest);
        var (runs, traceRuns) = Run(cell, 5);
        var (whole, traceWhole) = Run(cell, 5, linearFrames: false);
        whole.Metrics.ShouldBe(runs.Metrics);
        traceWhole.Spans.ShouldBe(traceRuns.Spans);
        traceWhole.Instants.ShouldBe(traceRuns.Instants);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void DifferentSeeds_GiveDifferentInterleavings(string strategy)
    {
        var cell = new CellKey(strategy, RmpGranularity.AmdToday);
        var (_, one) = Run(cell, 1);
        var (_, two) = Run(cell, 2);
        one.Spans.ShouldNotBe(two.Spans);
    }

    [Fact]
    public void RunsOnManyThreadsAtOnce_GiveWhatTheyGiveAlone()
    {
        var cells = Workloads.AllCells().ToList();
        var alone = cells.Select(c => new ScenarioEngine().Run(Workloads.Tiny, c, 3).Metrics).ToList();
        var engine = new ScenarioEngine();
        var together = new RunMetrics[cells.Count];
        Parallel.For(0, cells.Count, i => together[i] = engine.Run(Workloads.Tiny, cells[i], 3).Metrics);
        together.ShouldBe(alone);
    }
}
