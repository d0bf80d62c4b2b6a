using Driver.Scenarios.Sweep;

namespace Driver.Scenarios.Results;

/// <summary>What a result file holds: the sweep, which share of it, and that share's runs in the sweep's order.</summary>
public sealed record SweepResult(SweepDefinition Sweep, Shard Shard, IReadOnlyList<RunResult> Runs)
{
    /// <summary>The cells this result has runs for, in the sweep's order, each over its seeds.</summary>
    public IReadOnlyList<CellSummary> Summarise()
    {
        var summaries = new List<CellSummary>();
        foreach (CellKey cell in Sweep.Cells)
        {
            RunResult[] runs = [.. Runs.Where(r => r.Cell == cell)];
            if (runs.Length == 0)
                continue;
            Spread[] spreads = [.. MetricFields.All.Select(f => Spread.Of([.. runs.Select(r => f.Get(r.Metrics))]))];
            SweepFinding[] findings = [.. runs.SelectMany(r => r.Findings.Select(f => new SweepFinding(cell, r.Seed, f)))];
            summaries.Add(new CellSummary(cell, runs.Length, spreads, findings));
        }

        return summaries;
    }

    public IReadOnlyList<SweepFinding> Findings => [.. Runs.SelectMany(r => r.Findings.Select(f => new SweepFinding(r.Cell, r.Seed, f)))];
}
