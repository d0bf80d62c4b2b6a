namespace Driver.Scenarios;

/// <summary>
/// What one (cell, seed) run measured. Every value is simulated (deterministic for the options and
/// seed); host time is never in here. Times are simulated nanoseconds.
/// </summary>
public sealed record RunMetrics
{
    public long DmaCompleted { get; init; }

    public long DmaFaulted { get; init; }

    /// <summary>Transactions that waited for a stall (an IOMMU change in progress) before completing or faulting.</summary>
    public long DmaStalled { get; init; }

    public long StallP50Ns { get; init; }

    public long StallP99Ns { get; init; }

    public long StallMaxNs { get; init; }

    /// <summary>Invariant-monitor violations; anything but 0 is a finding.</summary>
    public long SecurityViolations { get; init; }

    /// <summary>Conversions the guest asked for and the VMM completed.</summary>
    public long Conversions { get; init; }

    public long ConversionP50Ns { get; init; }

    public long ConversionP99Ns { get; init; }

    public long IotlbFlushes { get; init; }

    public long CommandsIssued { get; init; }

    public long RmpUpdates { get; init; }

    public long Psmashes { get; init; }

    /// <summary>I/O page-table pages in use at the end of the run.</summary>
    public long IoPageTablePages { get; init; }

    /// <summary>IOTLB misses over lookups, 0 to 1.</summary>
    public double IotlbMissRate { get; init; }

    /// <summary>Bytes of completed DMA per simulated second, in GB/s (10^9 bytes).</summary>
    public double DmaThroughputGBps { get; init; }
}
