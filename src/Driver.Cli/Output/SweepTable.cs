using Driver.Scenarios.Results;
using Spectre.Console;

namespace Driver.Cli.Output;

/// <summary>The terminal table: one row per cell, the metrics marked for it as columns, medians over the seeds with the range beneath.</summary>
internal static class SweepTable
{
    public static Table Build(IReadOnlyList<CellSummary> cells, int seeds)
    {
        MetricField[] fields = [.. MetricFields.All.Where(f => f.InTable)];
        var table = new Table().Border(TableBorder.Rounded);
        table.Title = new TableTitle(seeds == 1 ? "one seed per cell" : "median over " + seeds + " seeds per cell, min..max beneath");
        table.AddColumn(new TableColumn("strategy").NoWrap());
        table.AddColumn(new TableColumn("rule").NoWrap());
        foreach (MetricField field in fields)
            table.AddColumn(new TableColumn(Markup.Escape(MetricText.Header(field))).RightAligned());
        foreach (CellSummary cell in cells)
        {
            var row = new List<string> { Markup.Escape(cell.Cell.Strategy), cell.Cell.Rule.ToString() };
            foreach (MetricField field in fields)
            {
                (string median, string? range) = MetricText.Spread(field, cell[field], compact: true);
                string text = Markup.Escape(median) + (range == null ? string.Empty : "\n[grey]" + Markup.Escape(range) + "[/]");
                bool loud = field.Key == "security_violations" && cell[field].Max > 0;
                row.Add(loud ? "[bold red]" + text + "[/]" : text);
            }

            table.AddRow([.. row]);
        }

        return table;
    }
}
