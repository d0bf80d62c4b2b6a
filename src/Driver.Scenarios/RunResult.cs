namespace Driver.Scenarios;

/// <summary>One (cell, seed) run: its key, its seed, what it measured and what it found.</summary>
public sealed record RunResult(CellKey Cell, ulong Seed, RunMetrics Metrics, IReadOnlyList<Finding> Findings);
