using BenchmarkDotNet.Attributes;
using Driver.Platform.Iommu;
using Driver.Scenarios;

namespace Driver.Benchmarks;

/// <summary>
/// One whole run of the default workload (`driver run`'s defaults: 64 MiB guest on 2 MiB folios, the
/// TDI at 4 transactions per simulated microsecond for 10 ms, 20 conversions per millisecond), boot
/// included, on one core. Each op is one simulated DMA transaction, so the mean is host time per
/// transaction and 10^9 / mean is transactions per second of host time. The strategies whose DMA never
/// waits issue exactly <see cref="Transactions"/>; fw-smash, whose stalls hold the device, is left out.
/// </summary>
[MemoryDiagnoser]
public class ScenarioBenchmarks
{
    /// <summary>4 per us for 10 ms.</summary>
    public const int Transactions = 40_000;

    private readonly ScenarioOptions _options = new();
    private ScenarioEngine _engine = new();

    [Params(StrategyNames.Force4K, StrategyNames.Sequenced, StrategyNames.GmemNotify, StrategyNames.MirroredS2)]
    public string Strategy { get; set; } = StrategyNames.Sequenced;

    /// <summary>Frames kept as runs of words (the default) beside every frame stored byte for byte.</summary>
    [Params(true, false)]
    public bool LinearFrames { get; set; } = true;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new ScenarioEngine { LinearFrames = LinearFrames };
        var m = Run().Metrics;
        if (m.DmaCompleted + m.DmaFaulted != Transactions || m.SecurityViolations != 0)
            throw new InvalidOperationException($"the default workload issued {m.DmaCompleted + m.DmaFaulted} transactions, not {Transactions}");
    }

    [Benchmark(OperationsPerInvoke = Transactions)]
    public long DefaultWorkload() => Run().Metrics.DmaCompleted;

    private RunResult Run() => _engine.Run(_options, new CellKey(Strategy, RmpGranularity.AmdToday), 1);
}
