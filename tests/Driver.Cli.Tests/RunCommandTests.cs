using System.Text.Json;
using System.Xml.Linq;
using Driver.Platform.Iommu;
using Driver.Scenarios;
using Driver.TestSupport;
using Shouldly;
using Spectre.Console.Testing;
using Xunit;

namespace Driver.Cli.Tests;

/// <summary>`driver run` and `driver merge` end to end: the table, the files, sharding, progress and findings.</summary>
public sealed class RunCommandTests
{
    [Fact]
    public void With_no_options_it_runs_every_strategy_under_both_rules_and_prints_the_table()
    {
        var engine = new FakeScenarioEngine();
        using var run = new RunHarness(engine);
        (int code, string output, string error) = run.Run("run");
        code.ShouldBe(0);
        error.ShouldBeEmpty();
        engine.Runs.ShouldBe(10);
        foreach (string strategy in StrategyNames.All)
        {
            output.ShouldContain("│ " + strategy + " ");
        }

        output.ShouldContain("AmdToday");
        output.ShouldContain("DeriveSmallest");
        output.ShouldContain("stall p99");
        output.ShouldContain("one seed per cell; times in simulated us");
        output.ShouldNotContain("min..max");
        output.ShouldMatch(@"host time \d+\.\d\d s for 10 runs on 2 threads \(not in any file\)");
        output.ShouldNotContain("SECURITY VIOLATION");
    }

    [Fact]
    public void A_sweep_shows_the_median_and_the_range_over_its_seeds()
    {
        var engine = new FakeScenarioEngine();
        using var run = new RunHarness(engine);
        (int code, string output, _) = run.Run("run", "--strategy", "sequenced", "--rule", "amd-today", "--seeds", "5", "--jobs", "1");
        code.ShouldBe(0);
        engine.Runs.ShouldBe(5);
        output.ShouldContain("median over 5 seeds per cell (violations: total); times in simulated us");
        output.ShouldContain("min..max over the 5 seeds");
        output.ShouldMatch(@"│ sequenced │ AmdToday │ +\d+\.\.\d+ │");
        output.ShouldNotContain("DeriveSmallest");
        output.ShouldNotContain("fw-smash");
    }

    [Fact]
    public void The_same_options_and_seed_give_a_byte_identical_result_file_and_another_seed_does_not()
    {
        using var run = new RunHarness();
        run.Run("run", "--seeds", "3", "--out", run.File("a.json")).Code.ShouldBe(0);
        run.Run("run", "--seeds", "3", "--jobs", "1", "--out", run.File("b.json")).Code.ShouldBe(0);
        run.Run("run", "--seeds", "3", "--seed", "2", "--out", run.File("c.json")).Code.ShouldBe(0);
        byte[] a = File.ReadAllBytes(run.File("a.json"));
        File.ReadAllBytes(run.File("b.json")).ShouldBe(a);
        File.ReadAllBytes(run.File("c.json")).ShouldNotBe(a);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void Shards_merged_give_the_unsharded_result_file_byte_for_byte(int count)
    {
        using var run = new RunHarness();
        run.Run("run", "--seeds", "2", "--out", run.File("whole.json")).Code.ShouldBe(0);
        var files = new List<string>();
        for (int i = 0; i < count; i++)
        {
            string file = run.File("shard-" + i + ".json");
            (int code, string output, _) = run.Run("run", "--seeds", "2", "--shard", i + "/" + count, "--out", file);
            code.ShouldBe(0);
            output.ShouldContain("shard " + i + "/" + count + " only");
            files.Add(file);
        }

        files.Reverse();
        (int mergeCode, string mergeOutput, string mergeError) = run.Run(["merge", .. files, "--out", run.File("merged.json"), "--json", run.File("m.json"), "--csv", run.File("m.csv")]);
        mergeError.ShouldBeEmpty();
        mergeCode.ShouldBe(0);
        mergeOutput.ShouldContain("merged " + count + " files");
        File.ReadAllBytes(run.File("merged.json")).ShouldBe(File.ReadAllBytes(run.File("whole.json")));
        File.ReadAllLines(run.File("m.csv")).Length.ShouldBe(21);
        using JsonDocument summary = JsonDocument.Parse(File.ReadAllBytes(run.File("m.json")));
        summary.RootElement.GetProperty("cells").GetArrayLength().ShouldBe(10);
    }

    [Fact]
    public void Shard_auto_takes_the_index_from_a_slurm_array_or_an_indexed_job()
    {
        using var run = new RunHarness();
        run.Run("run", "--out", run.File("whole.json")).Code.ShouldBe(0);

        // A Slurm array 1-3: task ids 1, 2, 3 are shards 0, 1, 2.
        for (int task = 1; task <= 3; task++)
        {
            run.Environment = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = task.ToString(), ["SLURM_ARRAY_TASK_MIN"] = "1", ["SLURM_ARRAY_TASK_COUNT"] = "3" };
            run.Run("run", "--shard", "auto", "--out", run.File("slurm-" + task + ".json")).Output.ShouldContain("shard " + (task - 1) + "/3 only");
        }

        run.Run("merge", run.File("slurm-1.json"), run.File("slurm-2.json"), run.File("slurm-3.json"), "--out", run.File("slurm.json")).Code.ShouldBe(0);
        File.ReadAllBytes(run.File("slurm.json")).ShouldBe(File.ReadAllBytes(run.File("whole.json")));

        for (int index = 0; index < 2; index++)
        {
            run.Environment = new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = index.ToString() };
            run.Run("run", "--shard", "auto/2", "--out", run.File("k8s-" + index + ".json")).Code.ShouldBe(0);
        }

        run.Run("merge", run.File("k8s-0.json"), run.File("k8s-1.json"), "--out", run.File("k8s.json")).Code.ShouldBe(0);
        File.ReadAllBytes(run.File("k8s.json")).ShouldBe(File.ReadAllBytes(run.File("whole.json")));
    }

    [Fact]
    public void A_security_violation_is_printed_loudly_with_the_command_that_replays_it_alone()
    {
        var engine = new FakeScenarioEngine((cell, seed) => cell == new CellKey("sequenced", RmpGranularity.AmdToday) && seed == 13);
        using var run = new RunHarness(engine);
        (int code, string output, _) = run.Run("run", "--seed", "10", "--seeds", "5", "--guest-size", "128M", "--duration", "1ms");
        code.ShouldBe(DriverCommand.ViolationFound);
        output.ShouldContain("SECURITY VIOLATION sequenced/AmdToday seed 13: trusted-dma-to-shared at 0x40201000, 12345 ns: a T=1 write reached a shared page");
        const string Replay = "driver run --strategy sequenced --rule AmdToday --guest-size 128M --folio-size 2M --dma-rate 4 --dma-bytes 256 --pattern hotspot --conversion-rate 20 --duration 1ms --seed 13";
        output.ShouldContain("  replay: " + Replay + "\n");
        output.ShouldContain("1 security violation found");

        // The replay, typed as printed, runs that one cell and seed and finds the violation again.
        int before = engine.Runs;
        (int replayCode, string replayOutput, _) = run.Run(Replay.Split(' ').Skip(1).ToArray());
        replayCode.ShouldBe(DriverCommand.ViolationFound);
        (engine.Runs - before).ShouldBe(1);
        replayOutput.ShouldContain("replay: " + Replay);
    }

    [Fact]
    public void Many_findings_show_the_first_twenty_and_the_json_has_every_one()
    {
        using var run = new RunHarness(new FakeScenarioEngine((_, _) => true));
        (int code, string output, _) = run.Run(new TestConsole().Width(80), "run", "--seeds", "3", "--json", run.File("s.json"));
        code.ShouldBe(DriverCommand.ViolationFound);
        output.Split('\n').Count(l => l.StartsWith("  replay: driver run --strategy ", StringComparison.Ordinal)).ShouldBe(20);
        output.ShouldContain("... and 10 more; --json lists every one with its replay command");
        output.ShouldContain("30 security violations found");
        using JsonDocument summary = JsonDocument.Parse(File.ReadAllBytes(run.File("s.json")));
        summary.RootElement.GetProperty("cells").EnumerateArray().Sum(c => c.GetProperty("findings").GetArrayLength()).ShouldBe(30);
        summary.RootElement.GetProperty("cells")[0].GetProperty("metrics").GetProperty("security_violations").GetProperty("total").GetDouble().ShouldBe(3);
    }

    [Fact]
    public void Redirected_output_gets_plain_progress_lines_one_per_tenth()
    {
        using var run = new RunHarness();
        var console = new TestConsole().Width(250);
        console.Profile.Capabilities.Interactive.ShouldBeFalse();
        (int code, string output, _) = run.Run(console, "run", "--seeds", "4", "--jobs", "2");
        code.ShouldBe(0);
        string[] lines = [.. output.Split('\n').Where(l => l.StartsWith("driver run:", StringComparison.Ordinal))];
        lines[0].ShouldBe("driver run: 40 runs (10 cells x 4 seeds) on 2 threads");
        lines.Skip(1).ShouldBe([.. Enumerable.Range(1, 10).Select(t => "driver run: " + (t * 4) + "/40 runs done (" + (t * 10) + "%)")]);
        output.ShouldNotContain("\u001b[");
    }

    [Fact]
    public void A_terminal_gets_a_progress_bar_and_no_progress_lines()
    {
        using var run = new RunHarness();
        TestConsole console = new TestConsole().Width(120).Interactive().EmitAnsiSequences();
        (int code, string output, _) = run.Run(console, "run", "--seeds", "2");
        code.ShouldBe(0);
        output.ShouldContain("\u001b[");
        output.ShouldNotContain("runs done");
        output.ShouldContain("│ fw-smash ");
        output.ShouldContain("│ DeriveSmallest │");
    }

    [Fact]
    public void A_latency_with_no_sample_reads_as_a_dash_not_as_zero()
    {
        // fw-smash completes no round trip here and nothing stalls under force-4k: their
        // percentiles have no sample, and 0 us would read as "instant".
        var engine = new MetricsEngine(cell => cell.Strategy == StrategyNames.FwSmash
            ? new RunMetrics { DmaCompleted = 10, DmaStalled = 4, StallP99Ns = 7_000 }
            : new RunMetrics { DmaCompleted = 10, Conversions = 2, ConversionP50Ns = 3_000, ConversionP99Ns = 5_000 });
        using var run = new RunHarness(engine);
        (int code, string output, _) = run.Run("run", "--strategy", "fw-smash,force-4k", "--rule", "AmdToday", "--seeds", "2", "--report", run.File("report"));
        code.ShouldBe(0);
        string[] header = Cells(output.Split('\n').First(l => l.StartsWith("│ strategy", StringComparison.Ordinal)));
        string[] fwSmash = Cells(output.Split('\n').First(l => l.StartsWith("│ fw-smash ", StringComparison.Ordinal)));
        string[] force4K = Cells(output.Split('\n').First(l => l.StartsWith("│ force-4k ", StringComparison.Ordinal)));
        int convP50 = Array.IndexOf(header, "conv p50");
        int stallP99 = Array.IndexOf(header, "stall p99");
        (fwSmash[convP50], fwSmash[stallP99], force4K[convP50], force4K[stallP99]).ShouldBe(("-", "7", "3", "-"));
        string html = File.ReadAllText(Path.Combine(run.File("report"), "index.html"));
        html.ShouldContain("<td>fw-smash</td><td>AmdToday</td><td>10</td>");
        html.ShouldContain("<td>-</td>");

        static string[] Cells(string line) => [.. line.Split('│').Select(c => c.Trim())];
    }

    /// <summary>The same metrics for every seed of a cell, chosen by the test.</summary>
    private sealed class MetricsEngine(Func<CellKey, RunMetrics> metrics) : IScenarioEngine
    {
        public RunResult Run(ScenarioOptions options, CellKey cell, ulong seed, ITraceSink? trace = null, CancellationToken cancel = default) =>
            new(cell, seed, metrics(cell), []);
    }

    [Fact]
    public void The_tables_of_a_sweep_fit_a_160_column_terminal_without_cutting_anything()
    {
        using var run = new RunHarness();
        (int code, string output, _) = run.Run(new TestConsole().Width(160), "run", "--seeds", "3", "--guest-size", "1T", "--duration", "50ms");
        code.ShouldBe(0);
        string[] table = [.. output.Split('\n').Where(l => l.StartsWith('│') || l.StartsWith('╭'))];
        table.ShouldAllBe(l => l.Length <= 160);
        output.ShouldNotContain("…");
        foreach (string strategy in StrategyNames.All)
            table.ShouldContain(l => l.StartsWith("│ " + strategy + " ", StringComparison.Ordinal));
        table.ShouldContain(l => l.Contains("│ DeriveSmallest │", StringComparison.Ordinal));
    }

    [Fact]
    public void The_trace_is_chrome_trace_event_json_with_a_process_per_run()
    {
        using var run = new RunHarness();
        run.Run("run", "--strategy", "fw-smash", "--seeds", "2", "--trace", run.File("t.json")).Code.ShouldBe(0);
        using JsonDocument trace = JsonDocument.Parse(File.ReadAllBytes(run.File("t.json")));
        JsonElement[] events = [.. trace.RootElement.GetProperty("traceEvents").EnumerateArray()];
        events.Where(e => e.GetProperty("name").GetString() == "process_name").Select(e => e.GetProperty("args").GetProperty("name").GetString())
            .ShouldBe(["fw-smash/AmdToday seed 1", "fw-smash/AmdToday seed 2", "fw-smash/DeriveSmallest seed 1", "fw-smash/DeriveSmallest seed 2"]);
        events.ShouldContain(e => e.GetProperty("ph").GetString() == "X");
        events.ShouldAllBe(e => e.GetProperty("ph").GetString() == "X" || e.GetProperty("ph").GetString() == "i" || e.GetProperty("ph").GetString() == "M");
    }

    [Fact]
    public void The_report_holds_three_svg_charts_and_a_page_that_shows_them_with_the_table()
    {
        using var run = new RunHarness(new FakeScenarioEngine((_, seed) => seed == 2));
        run.Run("run", "--strategy", "sequenced,fw-smash", "--seeds", "3", "--report", run.File("report")).Code.ShouldBe(DriverCommand.ViolationFound);
        foreach (string chart in new[] { "faults.svg", "stall.svg", "conversion.svg" })
        {
            XDocument svg = XDocument.Load(run.File(Path.Combine("report", chart)));
            svg.Root!.Name.LocalName.ShouldBe("svg");
            svg.Root.Name.NamespaceName.ShouldBe("http://www.w3.org/2000/svg");
            string text = svg.ToString();
            text.ShouldContain("sequenced");
            text.ShouldContain("fw-smash");
            text.ShouldContain("AmdToday");
        }

        string html = File.ReadAllText(run.File(Path.Combine("report", "index.html")));
        html.ShouldStartWith("<!DOCTYPE html>");
        html.ShouldContain("<img src=\"faults.svg\"");
        html.ShouldContain("<img src=\"stall.svg\"");
        html.ShouldContain("<img src=\"conversion.svg\"");
        html.ShouldContain("<th>IOTLB miss</th>");
        html.ShouldContain("<td>fw-smash</td><td>DeriveSmallest</td>");
        html.ShouldContain("Security violations: 4");
        html.ShouldContain("--seed 2</code>");
        html.ShouldNotContain("host time");

        // The page is well-formed enough for an XML parser once the doctype and void elements are set aside.
        XDocument.Parse(html.Replace("<!DOCTYPE html>", string.Empty, StringComparison.Ordinal).Replace("<br>", "<br/>", StringComparison.Ordinal)
            .Replace("<meta charset=\"utf-8\">", "<meta charset=\"utf-8\"/>", StringComparison.Ordinal).Replace("width=\"800\">", "width=\"800\"/>", StringComparison.Ordinal))
            .Root!.Name.LocalName.ShouldBe("html");
    }

    [Theory]
    [InlineData("AmdToday", "AmdToday")]
    [InlineData("amd-today", "AmdToday")]
    [InlineData("derive-smallest", "DeriveSmallest")]
    [InlineData("DeriveSmallest", "DeriveSmallest")]
    [InlineData("deriveSMALLEST", "DeriveSmallest")]
    public void Rules_are_accepted_by_their_names_and_hyphenated_lower_case(string text, string rule)
    {
        using var run = new RunHarness();
        run.Run("run", "--strategy", "force-4k", "--rule", text, "--out", run.File("r.json")).Code.ShouldBe(0);
        using JsonDocument file = JsonDocument.Parse(File.ReadAllBytes(run.File("r.json")));
        file.RootElement.GetProperty("sweep").GetProperty("rules").EnumerateArray().Select(r => r.GetString()).ShouldBe([rule]);
    }

    [Theory]
    [InlineData("--guest-size", "1T", "guest_size", 1UL << 40)]
    [InlineData("--guest-size", "64M", "guest_size", 64UL << 20)]
    [InlineData("--guest-size", "0x4000_0000", "guest_size", 1UL << 30)]
    [InlineData("--guest-size", "2GiB", "guest_size", 2UL << 30)]
    [InlineData("--guest-size", "4mb", "guest_size", 4UL << 20)]
    [InlineData("--dma-bytes", "4K", "dma_bytes", 4096UL)]
    [InlineData("--dma-bytes", "0x40", "dma_bytes", 64UL)]
    [InlineData("--duration", "2ms", "duration_ns", 2_000_000UL)]
    [InlineData("--duration", "500us", "duration_ns", 500_000UL)]
    [InlineData("--duration", "1s", "duration_ns", 1_000_000_000UL)]
    [InlineData("--duration", "123456", "duration_ns", 123_456UL)]
    [InlineData("--duration", "7ns", "duration_ns", 7UL)]
    public void Sizes_and_times_are_read_with_suffixes_and_hwdef_numbers(string option, string text, string field, ulong value)
    {
        using var run = new RunHarness();
        run.Run("run", "--strategy", "force-4k", "--rule", "AmdToday", option, text, "--out", run.File("r.json")).Code.ShouldBe(0);
        using JsonDocument file = JsonDocument.Parse(File.ReadAllBytes(run.File("r.json")));
        file.RootElement.GetProperty("sweep").GetProperty("workload").GetProperty(field).GetUInt64().ShouldBe(value);
    }

    [Fact]
    public void Every_workload_option_reaches_the_result_file()
    {
        using var run = new RunHarness();
        run.Run("run", "--strategy", "gmem-notify", "--rule", "all", "--guest-size", "8M", "--folio-size", "4K", "--dma-rate", "0.5", "--dma-bytes", "64",
            "--pattern", "random", "--conversion-rate", "2.5", "--duration", "3ms", "--seed", "0x10", "--seeds", "2", "--untrusted", "--out", run.File("r.json")).Code.ShouldBe(0);
        using JsonDocument file = JsonDocument.Parse(File.ReadAllBytes(run.File("r.json")));
        JsonElement sweep = file.RootElement.GetProperty("sweep");
        sweep.GetProperty("strategies").EnumerateArray().Select(s => s.GetString()).ShouldBe(["gmem-notify"]);
        sweep.GetProperty("first_seed").GetUInt64().ShouldBe(16UL);
        sweep.GetProperty("seeds").GetInt32().ShouldBe(2);
        JsonElement w = sweep.GetProperty("workload");
        w.GetProperty("guest_size").GetUInt64().ShouldBe(8UL << 20);
        w.GetProperty("folio_size").GetUInt64().ShouldBe(4096UL);
        w.GetProperty("dma_rate").GetDouble().ShouldBe(0.5);
        w.GetProperty("dma_bytes").GetUInt32().ShouldBe(64U);
        w.GetProperty("pattern").GetString().ShouldBe("random");
        w.GetProperty("conversion_rate").GetDouble().ShouldBe(2.5);
        w.GetProperty("duration_ns").GetUInt64().ShouldBe(3_000_000UL);
        w.GetProperty("untrusted_device").GetBoolean().ShouldBeTrue();
        file.RootElement.GetProperty("runs").GetArrayLength().ShouldBe(4);
    }

    [Theory]
    [InlineData(new[] { "run", "--strategy", "bogus" }, "driver: unknown strategy 'bogus'; strategies: force-4k, sequenced, fw-smash, gmem-notify, mirrored-s2 or all")]
    [InlineData(new[] { "run", "--strategy", "sequenced,nope" }, "driver: unknown strategy 'nope'; strategies: force-4k, sequenced, fw-smash, gmem-notify, mirrored-s2 or all")]
    [InlineData(new[] { "run", "--rule", "sometimes" }, "driver: unknown rule 'sometimes'; rules: AmdToday (amd-today), DeriveSmallest (derive-smallest) or all")]
    [InlineData(new[] { "run", "--guest-size", "3M" }, "driver: --guest-size 3M is not a multiple of the folio size 2M")]
    [InlineData(new[] { "run", "--guest-size", "6K", "--folio-size", "2M" }, "driver: --guest-size 6K is not a multiple of the folio size 2M")]
    [InlineData(new[] { "run", "--guest-size", "0" }, "driver: --guest-size must be above 0")]
    [InlineData(new[] { "run", "--guest-size", "1Q" }, "driver: '1Q' is not a size (--guest-size); use bytes or a number with K, M, G or T, e.g. 4K, 2M, 64M, 1T")]
    [InlineData(new[] { "run", "--guest-size", "99999999999T" }, "driver: '99999999999T' is not a size (--guest-size); use bytes or a number with K, M, G or T, e.g. 4K, 2M, 64M, 1T")]
    [InlineData(new[] { "run", "--folio-size", "1M" }, "driver: --folio-size must be 4K or 2M, not 1M")]
    [InlineData(new[] { "run", "--dma-rate", "0" }, "driver: --dma-rate must be above 0, not 0")]
    [InlineData(new[] { "run", "--dma-rate", "-1" }, "driver: --dma-rate must be above 0, not -1")]
    [InlineData(new[] { "run", "--dma-rate", "fast" }, "driver: 'fast' is not a number (--dma-rate); use a decimal such as 4 or 0.5")]
    [InlineData(new[] { "run", "--dma-rate", "NaN" }, "driver: 'NaN' is not a number (--dma-rate); use a decimal such as 4 or 0.5")]
    [InlineData(new[] { "run", "--conversion-rate", "0" }, "driver: --conversion-rate must be above 0, not 0")]
    [InlineData(new[] { "run", "--conversion-rate", "-0.5" }, "driver: --conversion-rate must be above 0, not -0.5")]
    [InlineData(new[] { "run", "--dma-bytes", "0" }, "driver: --dma-bytes must be from 1 to 4K, not 0")]
    [InlineData(new[] { "run", "--dma-bytes", "8K" }, "driver: --dma-bytes must be from 1 to 4K, not 8192")]
    [InlineData(new[] { "run", "--pattern", "zigzag" }, "driver: unknown pattern 'zigzag'; patterns: sequential, random, hotspot")]
    [InlineData(new[] { "run", "--duration", "0" }, "driver: --duration must be above 0")]
    [InlineData(new[] { "run", "--duration", "10parsecs" }, "driver: '10parsecs' is not a duration (--duration); use a number with ns, us, ms or s, e.g. 10ms")]
    [InlineData(new[] { "run", "--seed", "x" }, "driver: 'x' is not a number (--seed); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "run", "--seeds", "0" }, "driver: --seeds must be from 1 to 2147483647, not 0")]
    [InlineData(new[] { "run", "--seeds", "-3" }, "driver: '-3' is not a number (--seeds); use decimal, 0x hex or 0b binary")]
    [InlineData(new[] { "run", "--seed", "0xFFFF_FFFF_FFFF_FFFF", "--seeds", "2" }, "driver: --seed 0xFFFF_FFFF_FFFF_FFFF with --seeds 2 passes the last seed, 2^64 - 1")]
    [InlineData(new[] { "run", "--seeds", "2000000000" }, "driver: --seeds 2000000000 makes more than 2147483647 runs; split the sweep with --shard and smaller --seeds")]
    [InlineData(new[] { "run", "--shard", "4/4" }, "driver: shard index 4 is out of range for 4 shards (0 to 3)")]
    [InlineData(new[] { "run", "--shard", "1/0" }, "driver: shard count must be from 1 to 2147483647, not 0")]
    [InlineData(new[] { "run", "--shard", "half" }, "driver: 'half' is not a shard; use I/N (I from 0 to N - 1), auto or auto/N")]
    [InlineData(new[] { "run", "--shard", "1/2/3" }, "driver: '1/2/3' is not a shard; use I/N (I from 0 to N - 1), auto or auto/N")]
    [InlineData(new[] { "run", "--shard", "auto" }, "driver: --shard auto needs SLURM_ARRAY_TASK_ID (a Slurm array job) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)")]
    [InlineData(new[] { "run", "--jobs", "0" }, "driver: --jobs must be from 1 to 2147483647, not 0")]
    [InlineData(new[] { "run", "--bogus" }, "driver: unknown command or argument '--bogus'; `driver --help` lists the commands")]
    public void A_bad_option_gets_one_line_and_exit_code_2(string[] args, string expected)
    {
        var engine = new FakeScenarioEngine();
        using var run = new RunHarness(engine);
        (int code, string output, string error) = run.Run(args);
        code.ShouldBe(2);
        output.ShouldBeEmpty();
        error.ShouldBe(expected);
        engine.Runs.ShouldBe(0);
    }

    [Theory]
    [InlineData("7", null, "--shard auto found SLURM_ARRAY_TASK_ID but not SLURM_ARRAY_TASK_COUNT; give the count as --shard auto/N")]
    [InlineData("7", "4", "shard index 7 is out of range for 4 shards (0 to 3)")]
    [InlineData("seven", "4", "SLURM_ARRAY_TASK_ID='seven' is not a whole number")]
    public void Shard_auto_with_a_bad_slurm_environment_is_a_usage_error(string task, string? count, string expected)
    {
        using var run = new RunHarness();
        var environment = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = task };
        if (count != null)
            environment["SLURM_ARRAY_TASK_COUNT"] = count;
        run.Environment = environment;
        run.Run("run", "--shard", "auto").ShouldBe((2, string.Empty, "driver: " + expected));
    }

    [Fact]
    public void Shard_auto_under_an_indexed_job_needs_the_count()
    {
        using var run = new RunHarness { Environment = new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "3" } };
        run.Run("run", "--shard", "auto").Error.ShouldBe("driver: --shard auto under JOB_COMPLETION_INDEX needs the count: --shard auto/N with N the Job's completions");
        run.Run("run", "--shard", "auto/3").Error.ShouldBe("driver: shard index 3 is out of range for 3 shards (0 to 2)");
    }

    [Fact]
    public void Merge_refuses_files_that_are_not_result_files_and_shards_that_do_not_make_one_sweep()
    {
        using var run = new RunHarness();
        File.WriteAllText(run.File("notes.txt"), "not a result");
        run.Run("run", "--out", run.File("table.json"), "--json", run.File("summary.json")).Code.ShouldBe(0);
        run.Run("run", "--shard", "0/2", "--out", run.File("a0.json")).Code.ShouldBe(0);
        run.Run("run", "--shard", "1/2", "--out", run.File("a1.json")).Code.ShouldBe(0);
        run.Run("run", "--shard", "1/2", "--dma-rate", "8", "--out", run.File("b1.json")).Code.ShouldBe(0);

        run.Run("merge", run.File("notes.txt")).ShouldBe((2, string.Empty, "driver: " + run.File("notes.txt") + " is not a result file (not JSON)"));
        run.Run("merge", run.File("summary.json")).ShouldBe((2, string.Empty, "driver: " + run.File("summary.json") + " is not a result file (no \"format\": \"driver-run-result\")"));
        run.Run("merge", run.File("a0.json"), run.File("b1.json")).ShouldBe((2, string.Empty, "driver: " + run.File("b1.json") + " is not a shard of the same sweep as " + run.File("a0.json") + ": the workload options differ"));
        run.Run("merge", run.File("a0.json"), run.File("a1.json"), run.File("a1.json")).ShouldBe((2, string.Empty, "driver: shard 1/2 is given twice: " + run.File("a1.json") + ", " + run.File("a1.json")));
        run.Run("merge", run.File("a1.json")).ShouldBe((2, string.Empty, "driver: shard 0/2 is missing"));
        (int code, _, string error) = run.Run("merge", run.File("missing.json"));
        code.ShouldBe(2);
        error.ShouldStartWith("driver: cannot read " + run.File("missing.json") + ": ");
        error.ShouldNotContain("\n");
        run.Run("merge").Code.ShouldBe(2);
    }

    [Fact]
    public void A_result_file_that_cannot_be_written_is_a_usage_error_naming_it()
    {
        using var run = new RunHarness();
        File.WriteAllText(run.File("plain"), "a file, not a directory");
        (int code, _, string error) = run.Run("run", "--strategy", "force-4k", "--out", run.File(Path.Combine("plain", "r.json")));
        code.ShouldBe(2);
        error.ShouldStartWith("driver: cannot write " + run.File(Path.Combine("plain", "r.json")) + ": ");
    }
}
