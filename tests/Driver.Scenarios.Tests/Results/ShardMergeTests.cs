using Driver.Platform.Iommu;
using Driver.Scenarios.Results;
using Driver.Scenarios.Sweep;
using Driver.TestSupport;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Results;

public sealed class ShardMergeTests
{
    private static SweepDefinition Sweep(int seeds = 2, double rate = 4) =>
        new(new ScenarioOptions { DurationNs = 50_000, DmaRate = rate }, StrategyNames.All, [RmpGranularity.AmdToday], 1, seeds);

    private static NamedResult Shard(int index, int count, SweepDefinition? sweep = null)
    {
        sweep ??= Sweep();
        var shard = new Shard(index, count);
        return new NamedResult("s" + index + "of" + count + ".json", new SweepResult(sweep, shard, SweepRunner.Run(new FakeScenarioEngine(), sweep, shard, 1)));
    }

    [Fact]
    public void Shards_with_different_options_are_refused() =>
        Should.Throw<ShardMergeException>(() => ShardMerge.Merge([Shard(0, 2), Shard(1, 2, Sweep(rate: 8))])).Message
            .ShouldBe("s1of2.json is not a shard of the same sweep as s0of2.json: the workload options differ");

    [Fact]
    public void Shards_of_different_seed_counts_are_refused() =>
        Should.Throw<ShardMergeException>(() => ShardMerge.Merge([Shard(0, 2), Shard(1, 2, Sweep(seeds: 3))])).Message
            .ShouldBe("s1of2.json is not a shard of the same sweep as s0of2.json: the seeds differ");

    [Fact]
    public void Shards_of_different_splits_are_refused() =>
        Should.Throw<ShardMergeException>(() => ShardMerge.Merge([Shard(0, 2), Shard(1, 3)])).Message
            .ShouldBe("s1of3.json is shard 1/3 but s0of2.json is shard 0/2: the sweep was split two ways");

    [Fact]
    public void A_shard_given_twice_is_reported()
    {
        NamedResult again = Shard(1, 3) with { Name = "copy.json" };
        Should.Throw<ShardMergeException>(() => ShardMerge.Merge([Shard(0, 3), Shard(1, 3), again, Shard(2, 3)])).Message
            .ShouldBe("shard 1/3 is given twice: s1of3.json, copy.json");
    }

    [Fact]
    public void Missing_shards_are_reported()
    {
        Should.Throw<ShardMergeException>(() => ShardMerge.Merge([Shard(1, 4)])).Message.ShouldBe("shards 0/4, 2/4, 3/4 are missing");
        Should.Throw<ShardMergeException>(() => ShardMerge.Merge([Shard(0, 2)])).Message.ShouldBe("shard 1/2 is missing");
    }

    [Fact]
    public void A_whole_result_merges_to_itself() =>
        ResultFile.ToBytes(ShardMerge.Merge([Shard(0, 1)])).ShouldBe(ResultFile.ToBytes(Shard(0, 1).Result));
}
