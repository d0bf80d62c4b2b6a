using Driver.Scenarios.Results;
using Spectre.Console;

namespace Driver.Cli.Output;

/// <summary>
/// The terminal tables. The first has a row per cell and the metrics marked for it as columns: the
/// median over the seeds, except violations, which are the total (one seed's violation must not
/// vanish in a median). A sweep of several seeds adds a second: the range of the metrics that
/// vary most between interleavings. Every metric's min, median and max is in --json and --report.
/// A percentile or maximum over samples that no seed recorded reads "-".
/// </summary>
internal static class SweepTable
{
    /// <summary>The metrics whose range over the seeds the second table shows.</summary>
    private static readonly string[] SpreadKeys = ["dma_faulted", "dma_stalled", "stall_p99_ns", "stall_max_ns", "conversion_p50_ns", "conversion_p99_ns"];

    public static Table Build(IReadOnlyList<CellSummary> cells, int seeds)
    {
        MetricField[] fields = [.. MetricFields.All.Where(f => f.InTable)];
        var table = Start(seeds == 1 ? "one seed per cell; times in simulated us" : "median over " + seeds + " seeds per cell (violations: total); times in simulated us");
        foreach (MetricField field in fields)
            table.AddColumn(new TableColumn(Markup.Escape(field.Header)).RightAligned());
        foreach (CellSummary cell in cells)
        {
            var row = new List<string> { Markup.Escape(cell.Cell.Strategy), cell.Cell.Rule.ToString() };
            foreach (MetricField field in fields)
            {
                if (field.Key == "security_violations")
                {
                    double total = cell[field].Total;
                    string text = MetricText.Value(field, total, compact: true);
                    row.Add(total > 0 ? "[bold red]" + text + "[/]" : text);
                    continue;
                }

                row.Add(Markup.Escape(MetricText.Spread(field, cell, compact: true).Median));
            }

            table.AddRow([.. row]);
        }

        return table;
    }

    /// <summary>min..max over the seeds for the metrics that interleavings move; null for one seed.</summary>
    public static Table? BuildSpread(IReadOnlyList<CellSummary> cells, int seeds)
    {
        if (seeds == 1)
            return null;
        MetricField[] fields = [.. SpreadKeys.Select(MetricFields.Get)];
        Table table = Start("min..max over the " + seeds + " seeds");
        foreach (MetricField field in fields)
            table.AddColumn(new TableColumn(Markup.Escape(field.Header)).RightAligned());
        foreach (CellSummary cell in cells)
        {
            var row = new List<string> { Markup.Escape(cell.Cell.Strategy), cell.Cell.Rule.ToString() };
            foreach (MetricField field in fields)
                row.Add(Markup.Escape(MetricText.Range(field, cell, compact: true)));
            table.AddRow([.. row]);
        }

        return table;
    }

    private static Table Start(string title)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.Title = new TableTitle(title);
        table.AddColumn(new TableColumn("strategy").NoWrap());
        table.AddColumn(new TableColumn("rule").NoWrap());
        return table;
    }
}
