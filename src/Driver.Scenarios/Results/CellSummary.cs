namespace Driver.Scenarios.Results;

/// <summary>One cell over the seeds a result holds: a <see cref="Spread"/> per metric (in <see cref="MetricFields.All"/> order) and its findings.</summary>
public sealed record CellSummary(CellKey Cell, int Seeds, IReadOnlyList<Spread> Spreads, IReadOnlyList<SweepFinding> Findings)
{
    public Spread this[MetricField field] => Spreads[IndexOf(field)];

    /// <summary>
    /// False when <paramref name="field"/> is a statistic over samples and no seed of the cell
    /// recorded one (fw-smash completes no conversion, a run without a stall has no stall time).
    /// </summary>
    public bool HasSamples(MetricField field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return field.SampledBy is null || this[MetricFields.Get(field.SampledBy)].Max > 0;
    }

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
