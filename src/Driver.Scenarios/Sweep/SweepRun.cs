namespace Driver.Scenarios.Sweep;

/// <summary>One (cell, seed) run of a sweep; <see cref="Index"/> is its place in the sweep's fixed order.</summary>
public readonly record struct SweepRun(int Index, CellKey Cell, ulong Seed);
