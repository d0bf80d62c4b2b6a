using Driver.Platform.Iommu;

namespace Driver.Scenarios.Sweep;

/// <summary>
/// Everything that decides a sweep's runs: the workload, the cells (strategies x rules, in that
/// order) and the seeds <see cref="FirstSeed"/> .. <see cref="FirstSeed"/> + <see cref="SeedCount"/> - 1.
/// Two shards belong to one sweep exactly when their definitions are equal.
/// </summary>
public sealed record SweepDefinition
{
    public SweepDefinition(ScenarioOptions options, IReadOnlyList<string> strategies, IReadOnlyList<RmpGranularity> rules, ulong firstSeed, int seedCount)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfZero(strategies.Count);
        ArgumentOutOfRangeException.ThrowIfZero(rules.Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(seedCount, 1);
        if (ulong.MaxValue - firstSeed < (ulong)(seedCount - 1))
            throw new ArgumentOutOfRangeException(nameof(seedCount), "the last seed would pass 2^64 - 1");
        Options = options;
        Strategies = [.. strategies];
        Rules = [.. rules];
        FirstSeed = firstSeed;
        SeedCount = seedCount;
    }

    public ScenarioOptions Options { get; }

    public IReadOnlyList<string> Strategies { get; }

    public IReadOnlyList<RmpGranularity> Rules { get; }

    public ulong FirstSeed { get; }

    public int SeedCount { get; }

    /// <summary>Strategies in the order given, each under every rule.</summary>
    public IReadOnlyList<CellKey> Cells => [.. Strategies.SelectMany(s => Rules.Select(r => new CellKey(s, r)))];

    public int RunCount => Strategies.Count * Rules.Count * SeedCount;

    /// <summary>Cell by cell, and within a cell seed by seed: the order of every output.</summary>
    public IEnumerable<SweepRun> Runs()
    {
        int index = 0;
        foreach (CellKey cell in Cells)
        {
            for (int s = 0; s < SeedCount; s++)
                yield return new SweepRun(index++, cell, FirstSeed + (ulong)s);
        }
    }

    public bool Equals(SweepDefinition? other) =>
        other is not null
        && Options == other.Options
        && Strategies.SequenceEqual(other.Strategies)
        && Rules.SequenceEqual(other.Rules)
        && FirstSeed == other.FirstSeed
        && SeedCount == other.SeedCount;

    public override int GetHashCode() => HashCode.Combine(Options, Strategies.Count, Rules.Count, FirstSeed, SeedCount);
}
