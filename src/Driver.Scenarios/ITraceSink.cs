namespace Driver.Scenarios;

/// <summary>
/// Where a run writes its timeline (DMA, conversions, commands, faults, stalls), one track per actor;
/// `--trace` turns it into Chrome trace-event JSON. Times are simulated nanoseconds.
/// </summary>
public interface ITraceSink
{
    /// <summary>Something that took time: a conversion, a stall, a command's execution.</summary>
    void Span(string actor, string name, ulong startNs, ulong durationNs, string? detail = null);

    /// <summary>Something that happened at one instant: a DMA fault, a flush, a violation.</summary>
    void Instant(string actor, string name, ulong timeNs, string? detail = null);
}
