namespace Driver.Scenarios.Results;

/// <summary>One entry of a run's timeline: a span (with a duration) or an instant, in simulated nanoseconds.</summary>
public sealed record TraceEvent(string Actor, string Name, ulong TimeNs, ulong DurationNs, bool IsSpan, string? Detail);
