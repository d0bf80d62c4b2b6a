namespace Driver.Scenarios.Results;

/// <summary>Keeps one run's timeline in the order the engine reports it, for <see cref="ChromeTrace"/>.</summary>
public sealed class RecordingTraceSink : ITraceSink
{
    private readonly List<TraceEvent> _events = [];
    private readonly Lock _lock = new();

    public IReadOnlyList<TraceEvent> Events
    {
        get
        {
            lock (_lock)
                return [.. _events];
        }
    }

    public void Span(string actor, string name, ulong startNs, ulong durationNs, string? detail = null)
    {
        lock (_lock)
            _events.Add(new TraceEvent(actor, name, startNs, durationNs, IsSpan: true, detail));
    }

    public void Instant(string actor, string name, ulong timeNs, string? detail = null)
    {
        lock (_lock)
            _events.Add(new TraceEvent(actor, name, timeNs, 0, IsSpan: false, detail));
    }
}
