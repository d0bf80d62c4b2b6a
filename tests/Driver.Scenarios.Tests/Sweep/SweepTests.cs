using Driver.Platform.Iommu;
using Driver.Scenarios.Results;
using Driver.Scenarios.Sweep;
using Driver.TestSupport;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Sweep;

/// <summary>The sweep's order, its shards, its threads and the determinism of the result file.</summary>
public sealed class SweepTests
{
    private static readonly ScenarioOptions Small = new() { GuestSize = 8UL << 20, DurationNs = 200_000 };

    private static SweepDefinition Definition(ulong firstSeed = 1, int seeds = 5) =>
        new(Small, StrategyNames.All, [RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest], firstSeed, seeds);

    private static byte[] RunBytes(SweepDefinition sweep, Shard shard, int jobs) =>
        ResultFile.ToBytes(new SweepResult(sweep, shard, SweepRunner.Run(new FakeScenarioEngine(), sweep, shard, jobs)));

    [Fact]
    public void Runs_go_cell_by_cell_strategy_first_then_seed_by_seed()
    {
        SweepRun[] runs = [.. Definition(firstSeed: 10, seeds: 2).Runs()];
        runs.Length.ShouldBe(20);
        runs[0].ShouldBe(new SweepRun(0, new CellKey("force-4k", RmpGranularity.AmdToday), 10));
        runs[1].ShouldBe(new SweepRun(1, new CellKey("force-4k", RmpGranularity.AmdToday), 11));
        runs[2].ShouldBe(new SweepRun(2, new CellKey("force-4k", RmpGranularity.DeriveSmallest), 10));
        runs[19].ShouldBe(new SweepRun(19, new CellKey("mirrored-s2", RmpGranularity.DeriveSmallest), 11));
    }

    [Fact]
    public void The_same_sweep_gives_the_same_bytes_whatever_the_thread_count()
    {
        byte[] one = RunBytes(Definition(), Shard.Whole, jobs: 1);
        RunBytes(Definition(), Shard.Whole, jobs: 1).ShouldBe(one);
        RunBytes(Definition(), Shard.Whole, jobs: 4).ShouldBe(one);
    }

    [Fact]
    public void Different_seeds_give_different_runs()
    {
        RunBytes(Definition(firstSeed: 1), Shard.Whole, 2).ShouldNotBe(RunBytes(Definition(firstSeed: 2), Shard.Whole, 2));
        IReadOnlyList<RunResult> runs = SweepRunner.Run(new FakeScenarioEngine(), Definition(seeds: 2), Shard.Whole, 2);
        runs[0].Metrics.ShouldNotBe(runs[1].Metrics);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(50)]
    public void Shards_merged_are_byte_identical_to_the_unsharded_run(int count)
    {
        SweepDefinition sweep = Definition();
        byte[] whole = RunBytes(sweep, Shard.Whole, 2);
        var shards = new List<NamedResult>();
        for (int i = count - 1; i >= 0; i--)
        {
            byte[] bytes = RunBytes(sweep, new Shard(i, count), 2);
            shards.Add(new NamedResult("shard" + i, ResultFile.Read(new MemoryStream(bytes), "shard" + i)));
        }

        ResultFile.ToBytes(ShardMerge.Merge(shards)).ShouldBe(whole);
    }

    [Fact]
    public void Every_run_lands_in_exactly_one_shard()
    {
        SweepDefinition sweep = Definition(seeds: 3);
        int[] owners = [.. sweep.Runs().Select(r => Enumerable.Range(0, 4).Single(i => new Shard(i, 4).Contains(r.Index)))];
        owners.Distinct().Order().ShouldBe([0, 1, 2, 3]);
        Enumerable.Range(0, 4).Sum(i => SweepRunner.CountRuns(sweep, new Shard(i, 4))).ShouldBe(sweep.RunCount);
    }

    [Fact]
    public void A_shard_index_outside_its_count_is_refused()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new Shard(4, 4));
        Should.Throw<ArgumentOutOfRangeException>(() => new Shard(-1, 4));
        Should.Throw<ArgumentOutOfRangeException>(() => new Shard(0, 0));
    }

    [Fact]
    public void Results_come_back_in_sweep_order_and_every_run_is_reported_once()
    {
        SweepDefinition sweep = Definition(seeds: 4);
        var done = new System.Collections.Concurrent.ConcurrentBag<(CellKey, ulong)>();
        var engine = new FakeScenarioEngine();
        IReadOnlyList<RunResult> results = SweepRunner.Run(engine, sweep, Shard.Whole, 2, runDone: r => done.Add((r.Cell, r.Seed)));
        results.Select(r => (r.Cell, r.Seed)).ShouldBe(sweep.Runs().Select(r => (r.Cell, r.Seed)));
        done.Count.ShouldBe(sweep.RunCount);
        engine.Runs.ShouldBe(sweep.RunCount);
    }

    [Fact]
    public void An_engine_that_answers_for_another_run_is_a_bug_caught_at_once()
    {
        var engine = new Moq.Mock<IScenarioEngine>();
        engine.Setup(e => e.Run(Moq.It.IsAny<ScenarioOptions>(), Moq.It.IsAny<CellKey>(), Moq.It.IsAny<ulong>(), null, Moq.It.IsAny<CancellationToken>()))
            .Returns((ScenarioOptions _, CellKey cell, ulong seed, ITraceSink? _, CancellationToken _) => new RunResult(cell, seed + 1, new RunMetrics(), []));
        Should.Throw<AggregateException>(() => SweepRunner.Run(engine.Object, Definition(seeds: 1), Shard.Whole, 1))
            .InnerExceptions[0].ShouldBeOfType<InvalidOperationException>();
    }

    [Fact]
    public void A_sweep_whose_last_seed_would_wrap_is_refused() =>
        Should.Throw<ArgumentOutOfRangeException>(() => Definition(firstSeed: ulong.MaxValue, seeds: 2));

    [Fact]
    public void Definitions_are_equal_by_value()
    {
        Definition().ShouldBe(Definition());
        Definition().GetHashCode().ShouldBe(Definition().GetHashCode());
        Definition().ShouldNotBe(Definition(seeds: 6));
        Definition().ShouldNotBe(new SweepDefinition(Small, [StrategyNames.Sequenced], [RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest], 1, 5));
        Definition().ShouldNotBe(new SweepDefinition(Small with { DmaRate = 5 }, StrategyNames.All, [RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest], 1, 5));
    }
}
