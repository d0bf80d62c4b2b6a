using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>
/// No strategy, under either rule, lets any DMA break an invariant: 1,000 seeds per cell on a tiny
/// workload (the trusted device, an untrusted one on the shared pages, a conversion every 25 us).
/// </summary>
public class SecuritySweepTests
{
    public const int Seeds = 1000;

    public static TheoryData<string, Driver.Platform.Iommu.RmpGranularity> Cells()
    {
        var data = new TheoryData<string, Driver.Platform.Iommu.RmpGranularity>();
        foreach (var cell in Workloads.AllCells())
            data.Add(cell.Strategy, cell.Rule);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cells))]
    public void EveryCell_HasNoSecurityViolation_OverAThousandSeeds(string strategy, Driver.Platform.Iommu.RmpGranularity rule)
    {
        var engine = new ScenarioEngine();
        var cell = new CellKey(strategy, rule);
        var bad = new List<string>();
        long dma = 0;
        Parallel.For(0, Seeds, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            var result = engine.Run(Workloads.Tiny, cell, (ulong)seed);
            Interlocked.Add(ref dma, result.Metrics.DmaCompleted + result.Metrics.DmaFaulted + result.Metrics.UntrustedDmaCompleted);
            if (result.Metrics.SecurityViolations != 0 || result.Metrics.ConversionsFailed != 0)
            {
                lock (bad)
                    bad.Add($"seed {seed}: {result.Metrics.SecurityViolations} violations, {result.Metrics.ConversionsFailed} refused exits: "
                        + string.Join("; ", result.Findings.Take(2).Select(f => f.Detail)));
            }
        });
        bad.ShouldBeEmpty();
        dma.ShouldBeGreaterThan(Seeds * 100L);
    }
}
