using System.Globalization;
using Driver.Scenarios.Results;

namespace Driver.Cli.Output;

/// <summary>A metric's value and header as people read them: counts with separators, times in simulated microseconds, ratios as percentages.</summary>
internal static class MetricText
{
    /// <param name="field">The metric.</param>
    /// <param name="value">Its value in the metric's own unit.</param>
    /// <param name="compact">Large counts as 39.6k or 1.25M, so that the terminal table fits a terminal.</param>
    public static string Value(MetricField field, double value, bool compact = false) => field.Unit switch
    {
        MetricUnit.Nanoseconds => Compact(value / 1000, compact, compact ? Significant(value / 1000) : "#,0.###"),
        MetricUnit.Ratio => (value * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%",
        MetricUnit.GigabytesPerSecond => value.ToString("0.00", CultureInfo.InvariantCulture),
        _ => Compact(value, compact, "#,0.#"),
    };

    /// <summary>Three significant digits for small times, whole microseconds from 100 up.</summary>
    private static string Significant(double us) => Math.Abs(us) >= 100 ? "#,0" : Math.Abs(us) >= 10 ? "0.#" : "0.##";

    private static string Compact(double value, bool compact, string format)
    {
        if (compact && Math.Abs(value) >= 1e6)
            return (value / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M";
        if (compact && Math.Abs(value) >= 1e4)
            return (value / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k";
        return value.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>What people read for a statistic with no sample in the cell: not a value of 0.</summary>
    public const string NoSample = "-";

    public static string Header(MetricField field) => field.Unit == MetricUnit.Nanoseconds ? field.Header + " (us)" : field.Header;

    /// <summary>The cell's median, and when the seeds disagree the range under it; <see cref="NoSample"/> alone when no seed recorded a sample.</summary>
    public static (string Median, string? Range) Spread(MetricField field, CellSummary cell, bool compact = false)
    {
        if (!cell.HasSamples(field))
            return (NoSample, null);
        Spread spread = cell[field];
        return (Value(field, spread.Median, compact), spread.IsPoint ? null : Value(field, spread.Min, compact) + ".." + Value(field, spread.Max, compact));
    }

    /// <summary>min..max over the seeds, or <see cref="NoSample"/>.</summary>
    public static string Range(MetricField field, CellSummary cell, bool compact = false) =>
        cell.HasSamples(field) ? Value(field, cell[field].Min, compact) + ".." + Value(field, cell[field].Max, compact) : NoSample;
}
