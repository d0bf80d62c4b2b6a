namespace Driver.Scenarios.Metrics;

/// <summary>What one device's DMA did during the measured part of a run.</summary>
internal sealed class DmaCounters
{
    public long Completed { get; set; }

    public long Faulted { get; set; }

    /// <summary>Of <see cref="Faulted"/>: refused by the RMP check (RMP_PAGE_FAULT).</summary>
    public long RmpFaults { get; set; }

    /// <summary>Of <see cref="Faulted"/>: no translation (IO_PAGE_FAULT) or any other refusal.</summary>
    public long PageFaults { get; set; }

    public long Stalled { get; set; }

    public Samples Stalls { get; } = new();

    public long Translations { get; set; }

    public long IotlbMisses { get; set; }

    public long Bytes { get; set; }
}
