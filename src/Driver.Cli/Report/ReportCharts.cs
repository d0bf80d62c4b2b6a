using Driver.Platform.Iommu;
using Driver.Scenarios.Results;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Driver.Cli.Report;

/// <summary>
/// The report's charts, one bar per (strategy, rule) and series per rule (and per percentile where
/// a chart shows two): the medians over the seeds, drawn with OxyPlot and written as SVG.
/// </summary>
internal static class ReportCharts
{
    /// <summary>A chart's file name, its title, its value axis and what it plots per rule.</summary>
    public sealed record Chart(string File, string Title, string Axis, IReadOnlyList<(string Label, string Metric)> Series);

    public static IReadOnlyList<Chart> All { get; } =
    [
        new("faults.svg", "Trusted DMA faulted", "transactions (median over seeds)", [(string.Empty, "dma_faulted")]),
        new("stall.svg", "DMA stall time", "simulated us (median over seeds)", [("p99", "stall_p99_ns"), ("max", "stall_max_ns")]),
        new("conversion.svg", "Conversion latency", "simulated us (median over seeds)", [("p50", "conversion_p50_ns"), ("p99", "conversion_p99_ns")]),
    ];

    public static PlotModel Model(Chart chart, IReadOnlyList<CellSummary> cells)
    {
        string[] strategies = [.. cells.Select(c => c.Cell.Strategy).Distinct()];
        RmpGranularity[] rules = [.. cells.Select(c => c.Cell.Rule).Distinct()];
        // Fixed margins and a legend inside the plot: the SVG exporter measures text without a font,
        // so margins it computes itself cut off the strategy names, the title and the legend.
        var model = new PlotModel { Title = chart.Title, Background = OxyColors.White, PlotMargins = new OxyThickness(110, 40, 30, 50) };
        model.Legends.Add(new Legend
        {
            LegendPosition = LegendPosition.RightBottom,
            LegendPlacement = LegendPlacement.Inside,
            LegendBackground = OxyColor.FromAColor(220, OxyColors.White),
            LegendBorder = OxyColors.Gray,
        });
        var categories = new CategoryAxis { Position = AxisPosition.Left, StartPosition = 1, EndPosition = 0, Key = "strategies" };
        categories.Labels.AddRange(strategies);
        model.Axes.Add(categories);
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = chart.Axis, Minimum = 0, MinimumPadding = 0, MaximumPadding = 0.1, MajorGridlineStyle = LineStyle.Dot });
        foreach (RmpGranularity rule in rules)
        {
            foreach ((string label, string metric) in chart.Series)
            {
                MetricField field = MetricFields.Get(metric);
                var series = new BarSeries { Title = (rule + " " + label).Trim(), XAxisKey = null, YAxisKey = "strategies" };
                foreach (string strategy in strategies)
                {
                    CellSummary? cell = cells.FirstOrDefault(c => c.Cell.Strategy == strategy && c.Cell.Rule == rule);
                    double value = cell == null ? 0 : cell[field].Median;
                    series.Items.Add(new BarItem(field.Unit == MetricUnit.Nanoseconds ? value / 1000 : value));
                }

                model.Series.Add(series);
            }
        }

        return model;
    }

    public static string Svg(Chart chart, IReadOnlyList<CellSummary> cells)
    {
        var exporter = new SvgExporter { Width = 800, Height = 360 };
        return exporter.ExportToString(Model(chart, cells));
    }
}
