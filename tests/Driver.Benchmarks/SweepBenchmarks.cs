using BenchmarkDotNet.Attributes;
using Driver.Platform.Iommu;
using Driver.Scenarios;
using Driver.Scenarios.Sweep;
using Driver.TestSupport;

namespace Driver.Benchmarks;

/// <summary>
/// A sweep's throughput on one thread and on two, side by side: the default comparison (every
/// strategy under both rules) over 4 seeds, 40 runs of the default workload. The engine is the
/// stand-in of the tests (one pseudo-random draw per DMA transaction), so this measures what the
/// sweep adds and how it scales, not the simulation.
/// </summary>
[MemoryDiagnoser]
public class SweepBenchmarks
{
    private static readonly SweepDefinition Sweep = new(new ScenarioOptions(), StrategyNames.All, [RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest], 1, 4);

    private readonly IScenarioEngine _engine = new FakeScenarioEngine();

    [Params(1, 2)]
    public int Jobs { get; set; }

    [Benchmark(Description = "sweep of 40 runs")]
    public int Run() => SweepRunner.Run(_engine, Sweep, Shard.Whole, Jobs).Count;
}
