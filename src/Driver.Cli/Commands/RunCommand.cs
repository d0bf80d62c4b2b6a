using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Driver.Cli.Output;
using Driver.Cli.Run;
using Driver.Scenarios;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Results;
using Driver.Scenarios.Sweep;

namespace Driver.Cli.Commands;

/// <summary>
/// `driver run`: the comparison of the conversion strategies under both RMP size rules, every cell
/// over one or more seeds, on all cores, as a table (and files). With no options it runs every
/// strategy under both rules on the default workload.
/// </summary>
internal static class RunCommand
{
    public static Command Create(DriverHost host)
    {
        var defaults = new ScenarioOptions();
        Option<string> strategy = Text("--strategy", "A strategy (" + string.Join(", ", StrategyNames.All) + "), a comma-separated list, or all", "all");
        Option<string> rule = Text("--rule", "The RMP size rule: AmdToday (amd-today), DeriveSmallest (derive-smallest) or all", "all");
        Option<string> guestSize = Text("--guest-size", "Guest memory, a multiple of the folio size: 64M, 1G, 1T, 0x4000_0000", CommandLineText.Size(defaults.GuestSize));
        Option<string> folioSize = Text("--folio-size", "The guest_memfd folio size: 4K or 2M", CommandLineText.Size(defaults.FolioSize));
        Option<string> dmaRate = Text("--dma-rate", "Trusted DMA transactions per simulated microsecond", CommandLineText.Rate(defaults.DmaRate));
        Option<string> dmaBytes = Text("--dma-bytes", "Bytes per DMA transaction, 1 to 4K", defaults.DmaBytes.ToString(CultureInfo.InvariantCulture));
        Option<string> pattern = Text("--pattern", "Where the DMA goes: sequential, random or hotspot", CommandLineText.Pattern(defaults.Pattern));
        Option<string> conversionRate = Text("--conversion-rate", "4K conversions the guest asks for per simulated millisecond", CommandLineText.Rate(defaults.ConversionRate));
        Option<string> duration = Text("--duration", "Simulated time per cell and seed: 10ms, 500us, 1s", CommandLineText.Duration(defaults.DurationNs));
        Option<string> seed = Text("--seed", "The first seed", "1");
        Option<string> seeds = Text("--seeds", "Seeds per cell: the seed, seed + 1, ...", "1");
        var untrusted = new Option<bool>("--untrusted") { Description = "Also run an untrusted device on the guest's shared pages" };
        Option<string?> json = File("--json", "Write the table as JSON (the spread of every metric per cell, the findings)");
        Option<string?> csv = File("--csv", "Write every (cell, seed) run's metrics as CSV");
        Option<string?> output = File("--out", "Write the result file (deterministic; what `driver merge` reads)");
        Option<string?> trace = File("--trace", "Write a Chrome trace-event timeline (Perfetto, chrome://tracing)");
        Option<string?> report = File("--report", "Write charts (SVG) and index.html into this directory");
        Option<string?> shard = File("--shard", "Run one share: I/N (I from 0), auto or auto/N (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX)");
        Option<string?> jobs = File("--jobs", "Threads (default: every core)");

        var command = new Command("run", "Compare the conversion strategies under both RMP size rules: `driver run` runs the default comparison.")
        {
            strategy, rule, guestSize, folioSize, dmaRate, dmaBytes, pattern, conversionRate, duration, seed, seeds, untrusted,
            json, csv, output, trace, report, shard, jobs,
        };
        command.SetAction(parse =>
        {
            string Get(Option<string> option) => parse.GetValue(option)!;
            var options = new ScenarioOptions
            {
                GuestSize = OptionValues.Size(Get(guestSize), "--guest-size"),
                FolioSize = OptionValues.Size(Get(folioSize), "--folio-size"),
                DmaRate = OptionValues.Rate(Get(dmaRate), "--dma-rate"),
                DmaBytes = (uint)Math.Min(OptionValues.Size(Get(dmaBytes), "--dma-bytes"), uint.MaxValue),
                Pattern = OptionValues.Pattern(Get(pattern)),
                ConversionRate = OptionValues.Rate(Get(conversionRate), "--conversion-rate"),
                DurationNs = OptionValues.Duration(Get(duration), "--duration"),
                UntrustedDevice = parse.GetValue(untrusted),
            };
            Check(options);
            IReadOnlyList<string> strategies = OptionValues.Strategies(Get(strategy));
            IReadOnlyList<Platform.Iommu.RmpGranularity> rules = OptionValues.Rules(Get(rule));
            ulong firstSeed = NumberParser.Parse(Get(seed), "--seed");
            int seedCount = OptionValues.Count(Get(seeds), "--seeds", 1);
            if (ulong.MaxValue - firstSeed < (ulong)(seedCount - 1))
                throw new UsageException("--seed " + Get(seed) + " with --seeds " + seedCount + " passes the last seed, 2^64 - 1");
            if ((long)strategies.Count * rules.Count * seedCount > int.MaxValue)
                throw new UsageException("--seeds " + seedCount + " makes more than " + int.MaxValue + " runs; split the sweep with --shard and smaller --seeds");
            string? shardText = parse.GetValue(shard);
            string? jobsText = parse.GetValue(jobs);
            var request = new RunRequest(
                new SweepDefinition(options, strategies, rules, firstSeed, seedCount),
                shardText == null ? Shard.Whole : OptionValues.Shard(shardText, host.GetEnvironment),
                jobsText == null ? host.ProcessorCount : OptionValues.Count(jobsText, "--jobs", 1),
                new OutputFiles(parse.GetValue(json), parse.GetValue(csv), parse.GetValue(output), parse.GetValue(report)),
                parse.GetValue(trace));
            return Execute(host, request);
        });
        return command;
    }

    /// <summary>Runs a checked request: progress while it runs, then the outputs; 1 when a run found a security violation.</summary>
    public static int Execute(DriverHost host, RunRequest request)
    {
        IScenarioEngine engine = host.Engine ?? throw new UsageException("this driver has no scenario engine built in");
        int total = SweepRunner.CountRuns(request.Sweep, request.Shard);
        var traces = request.Trace == null ? null : new RecordingTraceSink?[request.Sweep.RunCount];
        var clock = Stopwatch.StartNew();
        IReadOnlyList<RunResult> runs = SweepProgress.Show(host.Console, Describe(request, total), total, tick =>
            SweepRunner.Run(
                engine,
                request.Sweep,
                request.Shard,
                request.Jobs,
                traces == null ? null : run => traces[run.Index] = new RecordingTraceSink(),
                _ => tick()));
        clock.Stop();

        var result = new SweepResult(request.Sweep, request.Shard, runs);
        if (request.Trace != null && traces != null)
        {
            SweepRun[] order = [.. request.Sweep.Runs().Where(r => request.Shard.Contains(r.Index))];
            OutputWriter.WriteFile(request.Trace, stream => ChromeTrace.Write(stream, order.Select((r, i) => (runs[i], traces[r.Index]!.Events))));
        }

        string hostTime = "host time " + clock.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s for " + total + " runs on "
            + request.Jobs + (request.Jobs == 1 ? " thread" : " threads") + " (not in any file)";
        return OutputWriter.Present(host.Console, result, request.Outputs, hostTime);
    }

    private static string Describe(RunRequest request, int total)
    {
        SweepDefinition sweep = request.Sweep;
        string share = request.Shard.IsWhole ? string.Empty : ", shard " + request.Shard + " of the " + sweep.RunCount;
        return total + " runs (" + sweep.Cells.Count + " cells x " + sweep.SeedCount + (sweep.SeedCount == 1 ? " seed" : " seeds") + share + ") on " + request.Jobs + (request.Jobs == 1 ? " thread" : " threads");
    }

    /// <summary>The checks that depend on more than one option's value, or that the engine cannot honour.</summary>
    private static void Check(ScenarioOptions options)
    {
        if (options.FolioSize != 4UL << 10 && options.FolioSize != 2UL << 20)
            throw new UsageException("--folio-size must be 4K or 2M, not " + CommandLineText.Size(options.FolioSize));
        if (options.GuestSize == 0)
            throw new UsageException("--guest-size must be above 0");
        if (options.GuestSize % options.FolioSize != 0)
            throw new UsageException("--guest-size " + CommandLineText.Size(options.GuestSize) + " is not a multiple of the folio size " + CommandLineText.Size(options.FolioSize));
        if (options.DmaBytes is 0 or > 4096)
            throw new UsageException("--dma-bytes must be from 1 to 4K, not " + options.DmaBytes);
        if (options.DurationNs == 0)
            throw new UsageException("--duration must be above 0");

        // Whatever else the engine cannot run (a duration past its clock's range, say), in its own words.
        if (ScenarioOptionsCheck.Problem(options) is { } problem)
            throw new UsageException(problem);
    }

    private static Option<string> Text(string name, string description, string defaultValue) =>
        new(name) { Description = description + " [default: " + defaultValue + "]", DefaultValueFactory = _ => defaultValue };

    private static Option<string?> File(string name, string description) => new(name) { Description = description };
}
