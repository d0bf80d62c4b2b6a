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

    public static string Header(MetricField field) => field.Unit == MetricUnit.Nanoseconds ? field.Header + " (us)" : field.Header;

    /// <summary>The median, and when the seeds disagree the range under it.</summary>
    public static (string Median, string? Range) Spread(MetricField field, Spread spread, bool compact = false) =>
        (Value(field, spread.Median, compact), spread.IsPoint ? null : Value(field, spread.Min, compact) + ".." + Value(field, spread.Max, compact));
}
