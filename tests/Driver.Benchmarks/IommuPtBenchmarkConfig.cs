using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace Driver.Benchmarks;

/// <summary>The job of <see cref="IommuPtBenchmarks{TTable}"/>.</summary>
internal sealed class IommuPtBenchmarkConfig : ManualConfig
{
    private const int WarmupIterations = 100;

    // More than ShortRun's 3: on a shared machine one slow iteration of three moved a mean by 40 %; 15 give a median.
    private const int Iterations = 15;

    public IommuPtBenchmarkConfig()
    {
        // Far more warmup than ShortRun: an iteration lasts a few milliseconds, and with a dozen
        // warmups the walk was still Tier-0 code when measured. A hundred let tiering settle.
        AddJob(Job.ShortRun.WithWarmupCount(WarmupIterations).WithInvocationCount(IommuPtBenchmarks<Now>.Invocations)
            .WithUnrollFactor(1).WithIterationCount(Iterations).WithId("short"));
        AddColumn(StatisticColumn.Min, StatisticColumn.Median);
    }
}
