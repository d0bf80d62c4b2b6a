using Driver.Platform.Iommu;
using Driver.Scenarios;

namespace Driver.TestSupport;

/// <summary>
/// A stand-in engine for the sweep, its outputs and the command line: deterministic from the options,
/// cell and seed, different for different seeds, with work proportional to the DMA it pretends to do
/// (one pseudo-random draw per transaction). <c>violates</c> picks the runs that report a finding.
/// </summary>
internal sealed class FakeScenarioEngine(Func<CellKey, ulong, bool>? violates = null) : IScenarioEngine
{
    private int _runs;

    /// <summary>Runs so far, over all threads.</summary>
    public int Runs => Volatile.Read(ref _runs);

    public RunResult Run(ScenarioOptions options, CellKey cell, ulong seed, ITraceSink? trace = null, CancellationToken cancel = default)
    {
        Interlocked.Increment(ref _runs);
        ulong state = Mix(seed ^ Hash(cell.Strategy) ^ ((ulong)cell.Rule << 61) ^ options.GuestSize ^ (ulong)options.Pattern ^ BitConverter.DoubleToUInt64Bits(options.DmaRate));
        long transactions = (long)(options.DmaRate * (options.DurationNs / 1000.0));
        long conversions = Math.Max(1, (long)(options.ConversionRate * (options.DurationNs / 1_000_000.0)));

        // The window the debate is about: only a cut-first strategy under today's rule faults.
        double faultChance = cell.Strategy == "sequenced" && cell.Rule == RmpGranularity.AmdToday ? 0.01 : 0;
        double stallChance = cell.Strategy == "fw-smash" ? 0.05 : 0.001;
        long completed = 0, faulted = 0, stalled = 0, stallMax = 0;
        for (long t = 0; t < transactions; t++)
        {
            if ((t & 0xFFFF) == 0)
                cancel.ThrowIfCancellationRequested();
            state = Mix(state);
            double draw = (state >> 11) * (1.0 / (1UL << 53));
            if (draw < faultChance)
            {
                faulted++;
                trace?.Instant("trusted-device", "dma fault", (ulong)t * 250);
            }
            else
            {
                completed++;
                if (draw > 1 - stallChance)
                {
                    stalled++;
                    stallMax = Math.Max(stallMax, (long)(state % 5000));
                }
            }
        }

        for (long c = 0; c < Math.Min(conversions, 64); c++)
            trace?.Span("vmm", "convert to shared", (ulong)c * 50_000, 1_000 + (Mix(state + (ulong)c) % 4_000), "gfn " + c);

        var metrics = new RunMetrics
        {
            DmaCompleted = completed,
            DmaFaulted = faulted,
            DmaStalled = stalled,
            StallP50Ns = stallMax / 2,
            StallP99Ns = stallMax * 9 / 10,
            StallMaxNs = stallMax,
            Conversions = conversions,
            ConversionP50Ns = 2_000 + (long)(Mix(state) % 1_000),
            ConversionP99Ns = 4_000 + (long)(Mix(state + 1) % 2_000),
            IotlbFlushes = conversions * (cell.Strategy == "force-4k" ? 1 : 2),
            CommandsIssued = conversions * 3,
            RmpUpdates = conversions * 2,
            Psmashes = cell.Strategy == "force-4k" ? 0 : conversions,
            IoPageTablePages = (long)(options.GuestSize / (cell.Strategy == "force-4k" ? 2UL << 20 : 1UL << 30)) + 1,
            IotlbMissRate = (Mix(state + 2) % 1000) / 1000.0,
            DmaThroughputGBps = completed * (double)options.DmaBytes / options.DurationNs,
        };
        List<Finding> findings = violates?.Invoke(cell, seed) == true
            ? [new Finding("trusted-dma-to-shared", 0x4020_1000, 12_345, "a T=1 write reached a shared page")]
            : [];
        if (findings.Count > 0)
        {
            metrics = metrics with { SecurityViolations = findings.Count };
            trace?.Instant("monitor", "violation", 12_345, findings[0].Detail);
        }

        return new RunResult(cell, seed, metrics, findings);
    }

    private static ulong Hash(string text)
    {
        ulong hash = 14695981039346656037;
        foreach (char c in text)
            hash = (hash ^ c) * 1099511628211;
        return hash;
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
        return x ^ (x >> 31);
    }
}
