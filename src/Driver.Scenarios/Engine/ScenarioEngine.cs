using Driver.Kernel;
using Driver.Platform.Iommu;
using Driver.Platform.Time;
using Driver.Scenarios.Actors;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Metrics;
using Driver.Scenarios.Strategies;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Scenarios;

/// <summary>
/// Runs one (strategy, rule, seed) on a fresh machine: boots the host (IOMMU, SNP, TIO), gives the
/// guest its memory (private, validated, mapped for the TDI by the strategy or by iommufd's binding), then runs the guest, the
/// VMM and the devices on simulated time for the options' duration and reads the metrics. One kernel
/// thread per run and nothing shared between runs, so runs of different cells may go on in parallel.
/// </summary>
public sealed class ScenarioEngine : IScenarioEngine
{
    private const ulong DeviceSeedSalt = 0xD3A0_0000_0000_0001;
    private const ulong GuestSeedSalt = 0x6E57_0000_0000_0002;
    private const ulong UntrustedSeedSalt = 0x0A7E_0000_0000_0003;
    private const int CancelCheckEvery = 64;

    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;

    public ScenarioEngine()
        : this(null)
    {
    }

    public ScenarioEngine(ILoggerFactory? loggerFactory)
    {
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<ScenarioEngine>();
    }

    /// <summary>See <see cref="Platform.MachineConfig.LinearFrames"/>: false gives the same results in more host memory (the benchmarks' comparison).</summary>
    public bool LinearFrames { get; init; } = true;

    public RunResult Run(ScenarioOptions options, CellKey cell, ulong seed, ITraceSink? trace = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (ScenarioOptionsCheck.Problem(options) is { } problem)
            throw new ArgumentException(problem, nameof(options));
        if (!Strategies.Strategies.IsKnown(cell.Strategy))
            throw new ArgumentException($"unknown strategy '{cell.Strategy}'", nameof(cell));
        Log.RunStarted(_logger, cell, seed, options.GuestSize, options.FolioSize, options.DurationNs);

        var strategy = Strategies.Strategies.Create(cell.Strategy);
        var firmware = new StrategyCounters();
        var bed = BringUp(options, cell.Rule, seed, strategy, firmware, LinearFrames);

        var baseline = Snapshot.Take(bed, firmware);
        var state = new ConversionState(bed.Layout);
        var vmm = new Vmm(bed, strategy, state, trace);
        var conversions = new ConversionCounters();
        var clock = bed.Machine.Scheduler;
        long start = clock.NowNs;
        long end = start + (long)options.DurationNs;
        var guest = new GuestActor(bed, vmm, state, conversions, trace, Mix(seed, GuestSeedSalt), 1_000_000.0 / options.ConversionRate, start, end);

        var trusted = new DmaCounters();
        var targets = new DmaTargets(bed.Layout, state, options.Pattern, options.DmaBytes, Mix(seed, DeviceSeedSalt));
        double interval = 1000.0 / options.DmaRate;
        var tdi = new DmaDevice(bed.Machine.Iommu, clock, Testbed.TrustedDeviceId, trusted: true, options.DmaBytes,
            () => targets.Next(), interval, start, end, trusted, trace, "tdi");
        clock.Register(tdi);
        var untrusted = new DmaCounters();
        if (options.UntrustedDevice)
        {
            var random = new SplitMix64(Mix(seed, UntrustedSeedSalt));
            clock.Register(new DmaDevice(bed.Machine.Iommu, clock, Testbed.UntrustedDeviceId, trusted: false, options.DmaBytes,
                () => state.Shared.Count == 0 ? null : bed.Layout.Gpa(state.Shared[random.NextInt(state.Shared.Count)]),
                interval, start, end, untrusted, trace, "untrusted"));
        }

        int steps = 0;
        // The run ends at its duration even when the VMM is behind: what it has not answered by then is not counted.
        while (guest.NextActionNs is var next && next != long.MaxValue && clock.NowNs < end)
        {
            if (++steps % CancelCheckEvery == 0)
                cancel.ThrowIfCancellationRequested();
            clock.AdvanceTo(next);
            guest.RunNext(next);
        }
        clock.AdvanceTo(Math.Max(end, clock.NowNs));
        tdi.Finish(end);
        cancel.ThrowIfCancellationRequested();

        var result = Collect(cell, seed, bed, baseline, firmware, trusted, untrusted, conversions, options, trace);
        Log.RunFinished(_logger, cell, seed, result.Metrics.DmaCompleted, result.Metrics.DmaFaulted, result.Metrics.DmaStalled,
            result.Metrics.Conversions, result.Metrics.SecurityViolations);
        if (conversions.Failed != 0)
            Log.ConversionsFailed(_logger, cell, seed, conversions.Failed);
        foreach (var finding in result.Findings)
            Log.Violation(_logger, cell, seed, finding.Detail);
        return result;
    }

    /// <summary>
    /// One run's system up to the first DMA: the host booted, the guest's memory made and given to the strategy,
    /// every block private, faulted into stage 2, validated and mapped for the trusted device (by the strategy, or by the iommufd binding
    /// once all are the guest's: 2 MiB over 2 MiB RMP entries), the TDI bound.
    /// </summary>
    internal static Testbed BringUp(ScenarioOptions options, RmpGranularity rule, ulong seed, IConversionStrategy strategy, StrategyCounters firmware, bool linearFrames = true)
    {
        // Each run's machine logs nothing: its per-access records would swamp a sweep.
        var bed = new Testbed(options, rule, seed, strategy.HugeIoPages, NullLoggerFactory.Instance, linearFrames);
        bed.BootHost(trustedThroughIommufd: strategy.BindsGuestMemfd);
        bed.CreateGuestMemory(new StrategyArch(bed.Layout, strategy));
        strategy.Attach(bed, firmware);
        for (int block = 0; block < bed.Layout.Blocks; block++)
            strategy.Populate(block, (gpa, spa, huge) => bed.FaultIn(gpa) == Errno.Ok && GuestActor.Validate(bed.GuestCpu, gpa, spa, huge));
        if (strategy.BindsGuestMemfd)
            Testbed.Check(bed.BindGuestMemfd(), "IOAS_MAP_GUEST_MEMFD");
        bed.BindTdi();
        return bed;
    }

    private static RunResult Collect(CellKey cell, ulong seed, Testbed bed, Snapshot baseline, StrategyCounters firmware, DmaCounters trusted,
        DmaCounters untrusted, ConversionCounters conversions, ScenarioOptions options, ITraceSink? trace)
    {
        var now = Snapshot.Take(bed, firmware);
        var violations = bed.Machine.Monitor.Violations;
        var findings = new List<Finding>(violations.Count);
        foreach (var v in violations)
        {
            findings.Add(new Finding(v.Kind.ToString(), v.Address, (ulong)v.TimeNs, v.ToString()));
            trace?.Instant("monitor", v.Kind.ToString(), (ulong)v.TimeNs, v.ToString());
        }
        var metrics = new RunMetrics
        {
            DmaCompleted = trusted.Completed,
            DmaFaulted = trusted.Faulted,
            DmaRmpFaults = trusted.RmpFaults,
            DmaPageFaults = trusted.PageFaults,
            DmaStalled = trusted.Stalled,
            StallP50Ns = trusted.Stalls.Percentile(50),
            StallP99Ns = trusted.Stalls.Percentile(99),
            StallMaxNs = trusted.Stalls.Max(),
            SecurityViolations = violations.Count,
            Conversions = conversions.Completed,
            ConversionsFailed = conversions.Failed,
            ConversionP50Ns = conversions.Latency.Percentile(50),
            ConversionP99Ns = conversions.Latency.Percentile(99),
            IotlbFlushes = now.IotlbFlushes - baseline.IotlbFlushes,
            CommandsIssued = now.Commands - baseline.Commands + now.PspCommands - baseline.PspCommands,
            FirmwareCommands = now.PspCommands - baseline.PspCommands,
            RmpUpdates = now.RmpUpdates - baseline.RmpUpdates,
            Psmashes = now.Psmashes - baseline.Psmashes,
            IoPageTablePages = bed.IoPageTablePages,
            IotlbMissRate = trusted.Translations == 0 ? 0 : (double)trusted.IotlbMisses / trusted.Translations,
            DmaThroughputGBps = (double)trusted.Bytes / options.DurationNs,
            UntrustedDmaCompleted = untrusted.Completed,
            UntrustedDmaFaulted = untrusted.Faulted,
        };
        return new RunResult(cell, seed, metrics, findings);
    }

    // Independent streams for the actors, all from the run's seed.
    private static ulong Mix(ulong seed, ulong salt) => new SplitMix64(seed ^ salt).Next();

    /// <summary>The counters a run reports as differences from the end of bring-up.</summary>
    private readonly record struct Snapshot(long Commands, long IotlbFlushes, long PspCommands, long RmpUpdates, long Psmashes)
    {
        public static Snapshot Take(Testbed bed, StrategyCounters firmware) => new(
            bed.Tap.Commands,
            bed.Tap.IotlbFlushes,
            bed.Machine.Psp.CommandsCompleted,
            bed.Cpu.Rmpupdates + firmware.FirmwareRmpWrites,
            bed.Cpu.Psmashes + firmware.FirmwareSmashes);
    }
}
