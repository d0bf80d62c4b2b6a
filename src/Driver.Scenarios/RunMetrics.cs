namespace Driver.Scenarios;

/// <summary>
/// What one (cell, seed) run measured. Every value is simulated (deterministic for the options and
/// seed); host time is never in here. Times are simulated nanoseconds.
/// </summary>
public sealed record RunMetrics
{
    public long DmaCompleted { get; init; }

    public long DmaFaulted { get; init; }

    /// <summary>Of <see cref="DmaFaulted"/>: refused by the RMP check (RMP_PAGE_FAULT), a size mismatch included.</summary>
    public long DmaRmpFaults { get; init; }

    /// <summary>Of <see cref="DmaFaulted"/>: found no translation (IO_PAGE_FAULT), as while a page is unmapped.</summary>
    public long DmaPageFaults { get; init; }

    /// <summary>Transactions that waited for a stall (an IOMMU change in progress) before completing or faulting.</summary>
    public long DmaStalled { get; init; }

    public long StallP50Ns { get; init; }

    public long StallP99Ns { get; init; }

    public long StallMaxNs { get; init; }

    /// <summary>Invariant-monitor violations; anything but 0 is a finding.</summary>
    public long SecurityViolations { get; init; }

    /// <summary>Conversions the guest asked for and the VMM completed.</summary>
    public long Conversions { get; init; }

    /// <summary>Conversion exits the host refused (an errno from a strategy step, guest_memfd or the guest's PVALIDATE).</summary>
    public long ConversionsFailed { get; init; }

    /// <summary>Per completed round trip (shared, then private and validated again): the time the guest waited for its two exits.</summary>
    public long ConversionP50Ns { get; init; }

    public long ConversionP99Ns { get; init; }

    public long IotlbFlushes { get; init; }

    /// <summary>IOMMU ring commands (COMPLETION_WAIT included) plus PSP firmware commands.</summary>
    public long CommandsIssued { get; init; }

    /// <summary>Of <see cref="CommandsIssued"/>: PSP firmware commands.</summary>
    public long FirmwareCommands { get; init; }

    public long RmpUpdates { get; init; }

    public long Psmashes { get; init; }

    /// <summary>I/O page-table pages in use at the end of the run.</summary>
    public long IoPageTablePages { get; init; }

    /// <summary>IOTLB misses over lookups, 0 to 1.</summary>
    public double IotlbMissRate { get; init; }

    /// <summary>Bytes of completed DMA per simulated second, in GB/s (10^9 bytes).</summary>
    public double DmaThroughputGBps { get; init; }

    /// <summary>The optional untrusted device's DMA to shared pages: completed and refused.</summary>
    public long UntrustedDmaCompleted { get; init; }

    public long UntrustedDmaFaulted { get; init; }
}
