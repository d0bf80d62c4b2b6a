namespace Driver.Scenarios.Tests;

/// <summary>A trace sink that keeps every event, for assertions on what happened when.</summary>
internal sealed class RecordingSink : ITraceSink
{
    public List<(string Actor, string Name, ulong Start, ulong Duration, string? Detail)> Spans { get; } = [];

    public List<(string Actor, string Name, ulong Time, string? Detail)> Instants { get; } = [];

    public void Span(string actor, string name, ulong startNs, ulong durationNs, string? detail = null) =>
        Spans.Add((actor, name, startNs, durationNs, detail));

    public void Instant(string actor, string name, ulong timeNs, string? detail = null) =>
        Instants.Add((actor, name, timeNs, detail));

    /// <summary>Whether <paramref name="timeNs"/> falls inside a span of the VMM named <paramref name="name"/>.</summary>
    public bool InsideVmm(string name, ulong timeNs) =>
        Spans.Any(s => s.Actor == "vmm" && s.Name == name && s.Start <= timeNs && timeNs <= s.Start + s.Duration);
}
