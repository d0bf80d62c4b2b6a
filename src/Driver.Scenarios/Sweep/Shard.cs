namespace Driver.Scenarios.Sweep;

/// <summary>
/// One share of a sweep: run <c>i</c> of the sweep's fixed order belongs to shard <c>i % Count</c>.
/// A round-robin split spreads every cell and every seed range over the shards, so that each takes
/// about as long as the others, and it depends on nothing but the sweep, so every machine agrees.
/// </summary>
public readonly record struct Shard
{
    public Shard(int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        Index = index;
        Count = count;
    }

    /// <summary>The whole sweep: what an unsharded run and a complete merge are.</summary>
    public static Shard Whole { get; } = new(0, 1);

    /// <summary>0 to <see cref="Count"/> - 1.</summary>
    public int Index { get; }

    public int Count { get; }

    public bool IsWhole => Count == 1;

    public bool Contains(int runIndex) => runIndex % Count == Index;

    /// <summary>As the command line writes it: <c>I/N</c>, I counted from 0.</summary>
    public override string ToString() => Index + "/" + Count;
}
