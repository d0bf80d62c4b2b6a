namespace Driver.Scenarios.Metrics;

/// <summary>The guest's conversions during the measured part of a run.</summary>
internal sealed class ConversionCounters
{
    /// <summary>Shares the guest asked for (a page already in conversion is not asked for again).</summary>
    public long Requests { get; set; }

    /// <summary>Round trips (shared, then private and validated again) that completed.</summary>
    public long Completed { get; set; }

    /// <summary>Exits the host refused (an errno from a strategy step, guest_memfd or PVALIDATE).</summary>
    public long Failed { get; set; }

    /// <summary>Per completed round trip: the simulated time the guest waited for its two exits.</summary>
    public Samples Latency { get; } = new();
}
