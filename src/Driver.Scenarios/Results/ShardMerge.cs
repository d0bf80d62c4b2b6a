using Driver.Scenarios.Sweep;

namespace Driver.Scenarios.Results;

/// <summary>
/// Puts the shards of one sweep back together: the result is the one an unsharded run of the same
/// sweep gives (shard 0/1, runs in the sweep's order), byte for byte once written.
/// </summary>
public static class ShardMerge
{
    public static SweepResult Merge(IReadOnlyList<NamedResult> shards)
    {
        ArgumentOutOfRangeException.ThrowIfZero(shards.Count);
        NamedResult first = shards[0];
        foreach (NamedResult other in shards.Skip(1))
        {
            if (!other.Result.Sweep.Equals(first.Result.Sweep))
                throw new ShardMergeException(other.Name + " is not a shard of the same sweep as " + first.Name + ": " + Difference(first.Result.Sweep, other.Result.Sweep) + " differ");
            if (other.Result.Shard.Count != first.Result.Shard.Count)
                throw new ShardMergeException(other.Name + " is shard " + other.Result.Shard + " but " + first.Name + " is shard " + first.Result.Shard + ": the sweep was split two ways");
        }

        int count = first.Result.Shard.Count;
        IGrouping<int, NamedResult>? twice = shards.GroupBy(s => s.Result.Shard.Index).FirstOrDefault(g => g.Count() > 1);
        if (twice != null)
            throw new ShardMergeException("shard " + twice.First().Result.Shard + " is given twice: " + string.Join(", ", twice.Select(s => s.Name)));
        int[] missing = [.. Enumerable.Range(0, count).Where(i => shards.All(s => s.Result.Shard.Index != i))];
        if (missing.Length > 0)
            throw new ShardMergeException((missing.Length == 1 ? "shard " : "shards ") + string.Join(", ", missing.Select(i => i + "/" + count)) + (missing.Length == 1 ? " is" : " are") + " missing");

        SweepDefinition sweep = first.Result.Sweep;
        var runs = new RunResult[sweep.RunCount];
        foreach (NamedResult shard in shards)
        {
            // A shard's runs are the sweep's runs i, i + N, i + 2N, ... in order (checked when the file was read).
            int index = shard.Result.Shard.Index;
            foreach (RunResult run in shard.Result.Runs)
            {
                runs[index] = run;
                index += count;
            }
        }

        return new SweepResult(sweep, Shard.Whole, runs);
    }

    /// <summary>Which parts of two sweeps differ, in words.</summary>
    private static string Difference(SweepDefinition a, SweepDefinition b)
    {
        var parts = new List<string>();
        if (a.Options != b.Options)
            parts.Add("the workload options");
        if (!a.Strategies.SequenceEqual(b.Strategies))
            parts.Add("the strategies");
        if (!a.Rules.SequenceEqual(b.Rules))
            parts.Add("the rules");
        if (a.FirstSeed != b.FirstSeed || a.SeedCount != b.SeedCount)
            parts.Add("the seeds");
        return string.Join(" and ", parts);
    }
}
