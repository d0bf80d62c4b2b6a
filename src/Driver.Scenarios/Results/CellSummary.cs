namespace Driver.Scenarios.Results;

/// <summary>One cell over the seeds a result holds: a <see cref="Spread"/> per metric (in <see cref="MetricFields.All"/> order) and its findings.</summary>
public sealed record CellSummary(CellKey Cell, int Seeds, IReadOnlyList<Spread> Spreads, IReadOnlyList<SweepFinding> Findings)
{
    public Spread this[MetricField field] => Spreads[IndexOf(field)];

    private static int IndexOf(MetricField field)
    {
        for (int i = 0; i < MetricFields.All.Count; i++)
        {
            if (ReferenceEquals(MetricFields.All[i], field))
                return i;
        }

        throw new ArgumentException("not one of MetricFields.All", nameof(field));
    }
}
