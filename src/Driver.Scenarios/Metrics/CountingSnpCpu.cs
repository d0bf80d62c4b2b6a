using Driver.Hw.Interfaces;
using Driver.Hw.Sev;

namespace Driver.Scenarios.Metrics;

/// <summary>The host CPU's SNP instructions, counted as the kernel issues them (a run reports RMPUPDATEs and PSMASHes).</summary>
internal sealed class CountingSnpCpu(ISnpCpu cpu) : ISnpCpu
{
    public long Rmpupdates { get; private set; }

    public long Psmashes { get; private set; }

    public RmpUpdateResult Rmpupdate(ulong spa, RmpUpdateArgs args)
    {
        Rmpupdates++;
        return cpu.Rmpupdate(spa, args);
    }

    public PsmashResult Psmash(ulong spa)
    {
        Psmashes++;
        return cpu.Psmash(spa);
    }

    /// <summary>A lookup, not a change: not counted.</summary>
    public bool Rmpread(ulong spa, out RmpEntry entry, out bool is2M) => cpu.Rmpread(spa, out entry, out is2M);
}
