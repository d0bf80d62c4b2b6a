using System.Reflection;
using System.Text;
using System.Text.Json;
using Driver.Platform.Iommu;
using Driver.Scenarios.Results;
using Driver.Scenarios.Sweep;
using Driver.TestSupport;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Results;

/// <summary>The result file: its fixed shape, its round trip, and the files it refuses.</summary>
public sealed class ResultFileTests
{
    private static readonly SweepDefinition Sweep = new(new ScenarioOptions { GuestSize = 4UL << 20, DurationNs = 100_000 }, [StrategyNames.Sequenced, StrategyNames.FwSmash], [RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest], 7, 3);

    private static SweepResult Result(Shard shard) =>
        new(Sweep, shard, SweepRunner.Run(new FakeScenarioEngine((cell, seed) => cell.Strategy == StrategyNames.Sequenced && seed == 8), Sweep, shard, 2));

    [Fact]
    public void Every_metric_of_RunMetrics_has_a_field_and_every_field_round_trips()
    {
        string[] properties = [.. typeof(RunMetrics).GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => p.Name)];
        MetricFields.All.Count.ShouldBe(properties.Length);
        MetricFields.All.Select(f => f.Key).Distinct().Count().ShouldBe(properties.Length);
        for (int i = 0; i < MetricFields.All.Count; i++)
        {
            MetricField field = MetricFields.All[i];
            RunMetrics set = field.With(new RunMetrics(), 100 + i);
            field.Get(set).ShouldBe(100 + i);

            // Exactly one property changed: the field reads and writes its own metric, not a neighbour's.
            properties.Count(p => !Equals(typeof(RunMetrics).GetProperty(p)!.GetValue(set), typeof(RunMetrics).GetProperty(p)!.GetValue(new RunMetrics()))).ShouldBe(1, field.Key);
        }
    }

    [Fact]
    public void A_statistic_over_samples_names_the_count_that_says_whether_there_were_any()
    {
        MetricFields.All.Where(f => f.SampledBy != null).Select(f => f.Key + "<-" + f.SampledBy).ShouldBe(
        [
            "stall_p50_ns<-dma_stalled", "stall_p99_ns<-dma_stalled", "stall_max_ns<-dma_stalled",
            "conversion_p50_ns<-conversions", "conversion_p99_ns<-conversions",
        ]);
        foreach (MetricField field in MetricFields.All.Where(f => f.SampledBy != null))
            MetricFields.Get(field.SampledBy!).IsInteger.ShouldBeTrue(field.Key);
    }

    [Fact]
    public void A_cell_has_samples_of_a_statistic_when_any_of_its_seeds_recorded_one()
    {
        MetricField p50 = MetricFields.Get("conversion_p50_ns");
        MetricField completed = MetricFields.Get("dma_completed");
        CellSummary Cell(params long[] conversions)
        {
            var cell = new CellKey(StrategyNames.FwSmash, RmpGranularity.AmdToday);
            RunResult[] runs = [.. conversions.Select((c, i) => new RunResult(cell, (ulong)i, new RunMetrics { Conversions = c, DmaCompleted = 5 }, []))];
            var sweep = new SweepDefinition(Sweep.Options, [StrategyNames.FwSmash], [RmpGranularity.AmdToday], 0, runs.Length);
            return new SweepResult(sweep, Shard.Whole, runs).Summarise().Single();
        }

        Cell(0, 0).HasSamples(p50).ShouldBeFalse();
        Cell(0, 3).HasSamples(p50).ShouldBeTrue();
        Cell(0, 0).HasSamples(completed).ShouldBeTrue();
    }

    [Fact]
    public void A_result_reads_back_to_the_same_result_and_the_same_bytes()
    {
        SweepResult result = Result(Shard.Whole);
        byte[] bytes = ResultFile.ToBytes(result);
        SweepResult back = ResultFile.Read(new MemoryStream(bytes), "r.json");
        back.Sweep.ShouldBe(Sweep);
        back.Shard.ShouldBe(Shard.Whole);
        back.Runs.Count.ShouldBe(12);
        for (int i = 0; i < 12; i++)
        {
            back.Runs[i].Metrics.ShouldBe(result.Runs[i].Metrics);
            back.Runs[i].Findings.ShouldBe(result.Runs[i].Findings);
        }

        ResultFile.ToBytes(back).ShouldBe(bytes);
    }

    [Fact]
    public void The_file_starts_with_its_format_and_version_and_holds_no_host_time()
    {
        string text = Encoding.UTF8.GetString(ResultFile.ToBytes(Result(Shard.Whole)));
        text.ShouldStartWith("{\n  \"format\": \"driver-run-result\",\n  \"version\": 1,\n  \"sweep\": {\n    \"strategies\": [");
        text.ShouldNotContain("\r");
        text.ShouldNotContain("host");
        text.ShouldEndWith("}\n");
        using JsonDocument doc = JsonDocument.Parse(text);
        JsonElement run = doc.RootElement.GetProperty("runs")[1];
        run.GetProperty("strategy").GetString().ShouldBe("sequenced");
        run.GetProperty("seed").GetUInt64().ShouldBe(8UL);
        run.GetProperty("findings")[0].GetProperty("rule").GetString().ShouldBe("trusted-dma-to-shared");
        run.GetProperty("metrics").EnumerateObject().Select(p => p.Name).ShouldBe(MetricFields.All.Select(f => f.Key));
    }

    [Theory]
    [InlineData("not json at all", "x.json is not a result file (not JSON)")]
    [InlineData("[1, 2]", "x.json is not a result file (no \"format\": \"driver-run-result\")")]
    [InlineData("{\"format\": \"driver-run-summary\"}", "x.json is not a result file (no \"format\": \"driver-run-result\")")]
    [InlineData("{\"format\": \"driver-run-result\", \"version\": 2}", "x.json is a result file of version 2; this driver reads version 1")]
    [InlineData("{\"format\": \"driver-run-result\", \"version\": 1}", "x.json is not a valid result file: it has no \"sweep\"")]
    public void A_file_that_is_not_a_result_file_is_named_and_refused(string text, string message) =>
        Should.Throw<ResultFileException>(() => ResultFile.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), "x.json")).Message.ShouldBe(message);

    [Theory]
    [InlineData("\"index\": 0,\n    \"count\": 1", "\"index\": 3,\n    \"count\": 2", "its shard 3/2 is out of range")]
    [InlineData("\"seed\": 7,", "\"seed\": 70,", "its runs are not those of shard 0/1 of its sweep")]
    [InlineData("\"rule\": \"AmdToday\"", "\"rule\": \"Sometimes\"", "it names an unknown rule 'Sometimes'")]
    [InlineData("\"dma_completed\": ", "\"dma_completed\": \"many\", \"x\": ", "its \"dma_completed\" is not a whole number")]
    [InlineData("\"pattern\": \"hotspot\"", "\"pattern\": \"zigzag\"", "its pattern is unknown")]
    public void A_damaged_result_file_is_refused_with_the_damage_named(string from, string to, string problem)
    {
        string text = Encoding.UTF8.GetString(ResultFile.ToBytes(Result(Shard.Whole)));
        text.ShouldContain(from);
        string damaged = text.Replace(from, to, StringComparison.Ordinal);
        Should.Throw<ResultFileException>(() => ResultFile.Read(new MemoryStream(Encoding.UTF8.GetBytes(damaged)), "x.json")).Message
            .ShouldBe("x.json is not a valid result file: " + problem);
    }

    [Fact]
    public void The_summary_gives_min_median_max_per_cell_and_the_replay_of_every_finding()
    {
        SweepResult result = Result(Shard.Whole);
        IReadOnlyList<CellSummary> cells = result.Summarise();
        cells.Select(c => c.Cell.ToString()).ShouldBe(["sequenced/AmdToday", "sequenced/DeriveSmallest", "fw-smash/AmdToday", "fw-smash/DeriveSmallest"]);
        MetricField completed = MetricFields.Get("dma_completed");
        double[] values = [.. result.Runs.Take(3).Select(r => (double)r.Metrics.DmaCompleted).Order()];
        cells[0][completed].ShouldBe(new Spread(values[0], values[1], values[2], values.Sum()));
        cells[0].Findings.Single().Seed.ShouldBe(8UL);
        cells[1].Findings.Single().Cell.Rule.ShouldBe(RmpGranularity.DeriveSmallest);
        cells[2].Findings.ShouldBeEmpty();

        var stream = new MemoryStream();
        SummaryJson.Write(stream, result);
        using JsonDocument doc = JsonDocument.Parse(stream.ToArray());
        JsonElement cell = doc.RootElement.GetProperty("cells")[0];
        cell.GetProperty("metrics").GetProperty("dma_completed").GetProperty("median").GetDouble().ShouldBe(values[1]);
        cell.GetProperty("findings")[0].GetProperty("replay").GetString()!.ShouldEndWith("--strategy sequenced --rule AmdToday --guest-size 4M --folio-size 2M --dma-rate 4 --dma-bytes 256 --pattern hotspot --conversion-rate 20 --duration 100us --seed 8".Replace("--strategy", "driver run --strategy", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new double[] { 5 }, 5, 5, 5, 5)]
    [InlineData(new double[] { 3, 1, 2 }, 1, 2, 3, 6)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 1, 2.5, 4, 10)]
    [InlineData(new double[] { 0, 0, 7, 0, 0 }, 0, 0, 7, 7)]
    public void A_spread_is_min_median_max_and_total(double[] values, double min, double median, double max, double total) =>
        Spread.Of(values).ShouldBe(new Spread(min, median, max, total));

    [Fact]
    public void The_csv_has_one_row_per_run_with_every_metric()
    {
        var writer = new StringWriter();
        RunsCsv.Write(writer, Result(Shard.Whole));
        string[] lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(13);
        lines[0].ShouldBe("strategy,rule,seed," + string.Join(",", MetricFields.All.Select(f => f.Key)) + ",findings");
        lines[2].ShouldStartWith("sequenced,AmdToday,8,");
        lines[2].ShouldEndWith(",1");
        lines.Skip(1).ShouldAllBe(l => l.Split(',').Length == MetricFields.All.Count + 4);
    }
}
