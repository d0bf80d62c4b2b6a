namespace Driver.Scenarios.Sweep;

/// <summary>
/// Runs a shard of a sweep on up to <c>jobs</c> threads. Each run owns its machine, so runs
/// share nothing; results come back in the sweep's order whatever order the threads finish in.
/// </summary>
public static class SweepRunner
{
    /// <summary>
    /// Runs <paramref name="shard"/> of <paramref name="sweep"/>; <c>traceFor</c> gives a run its trace sink (or null),
    /// <c>runDone</c> is told of each finished run from the run's thread, so it must be thread-safe.
    /// </summary>
    public static IReadOnlyList<RunResult> Run(
        IScenarioEngine engine,
        SweepDefinition sweep,
        Shard shard,
        int jobs,
        Func<SweepRun, ITraceSink?>? traceFor = null,
        Action<RunResult>? runDone = null,
        CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(jobs, 1);
        SweepRun[] runs = [.. sweep.Runs().Where(r => shard.Contains(r.Index))];
        var results = new RunResult[runs.Length];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = cancel };
        Parallel.For(0, runs.Length, parallel, i =>
        {
            SweepRun run = runs[i];
            RunResult result = engine.Run(sweep.Options, run.Cell, run.Seed, traceFor?.Invoke(run), cancel);
            if (result.Cell != run.Cell || result.Seed != run.Seed)
                throw new InvalidOperationException("the engine answered " + result.Cell + " seed " + result.Seed + " for " + run.Cell + " seed " + run.Seed);
            results[i] = result;
            runDone?.Invoke(result);
        });
        return results;
    }

    /// <summary>How many runs a shard holds, for a progress bar's total.</summary>
    public static int CountRuns(SweepDefinition sweep, Shard shard) => sweep.Runs().Count(r => shard.Contains(r.Index));
}
