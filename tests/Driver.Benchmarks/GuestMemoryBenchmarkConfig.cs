using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Driver.Benchmarks;

/// <summary>
/// The job of <see cref="GuestMemoryBenchmarks"/>: one cold invocation, in process, so that a 1 TiB guest is
/// built once and the process's peak working set is the guest's.
/// </summary>
internal sealed class GuestMemoryBenchmarkConfig : ManualConfig
{
    public GuestMemoryBenchmarkConfig() =>
        AddJob(Job.Dry.WithInvocationCount(1).WithUnrollFactor(1).WithToolchain(InProcessEmitToolchain.Instance).WithId("once"));
}
