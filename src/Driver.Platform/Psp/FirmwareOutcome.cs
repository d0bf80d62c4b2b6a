using Driver.Hw.Sev;

namespace Driver.Platform.Psp;

/// <summary>What a firmware command answers, how long it takes, and what it still does when it finishes.</summary>
internal readonly record struct FirmwareOutcome(SevStatus Status, long DurationNs, Action? AtCompletion = null);
