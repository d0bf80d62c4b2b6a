namespace Driver.Scenarios.Results;

/// <summary>A finding with the cell and seed that produced it: enough to replay it alone.</summary>
public sealed record SweepFinding(CellKey Cell, ulong Seed, Finding Finding);
