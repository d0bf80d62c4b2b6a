using Driver.Platform.Iommu;
using Driver.Platform.Psp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform;

/// <summary>How to build a <see cref="Machine"/>.</summary>
public sealed record MachineConfig
{
    /// <summary>Chooses the extra DMA interleavings; the same seed replays the same run.</summary>
    public ulong Seed { get; init; }

    /// <summary>Probability, per kernel-visible hardware access, of running one pending device event early.</summary>
    public double ExtraInterleaving { get; init; }

    public CostModel Costs { get; init; } = new();

    public IommuConfig Iommu { get; init; } = new();

    public PspConfig Psp { get; init; } = new();

    /// <summary>Where the RMP lives, and how much system memory (from 0) it covers.</summary>
    public ulong RmpBase { get; init; } = 0x10_0000_0000;

    public ulong RmpCoveredBytes { get; init; } = 0x10_0000_0000;

    /// <summary>Run the invariant monitors (costs a shadow walk per cached translation).</summary>
    public bool Monitors { get; init; } = true;

    /// <summary>
    /// Keep frames whose words form one run (page tables filled in order) as a few words; false stores
    /// every frame byte for byte. Nothing the machine does differs, only the host memory and time it takes.
    /// </summary>
    public bool LinearFrames { get; init; } = true;

    /// <summary>Where the devices, the bus and the monitors log; nothing by default.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;
}
