using System.Globalization;
using System.Net;
using System.Text;
using Driver.Cli.Output;
using Driver.Scenarios.Results;
using Driver.Scenarios.Sweep;

namespace Driver.Cli.Report;

/// <summary>
/// `--report DIR`: the charts as SVG files and index.html showing them with the full table (every
/// metric, median and range), the workload and the findings with their replay commands. Nothing
/// host-dependent is written, so a report is as reproducible as the result file.
/// </summary>
internal static class ReportWriter
{
    public static void Write(string directory, SweepResult result)
    {
        Directory.CreateDirectory(directory);
        IReadOnlyList<CellSummary> cells = result.Summarise();
        foreach (ReportCharts.Chart chart in ReportCharts.All)
            File.WriteAllText(Path.Combine(directory, chart.File), ReportCharts.Svg(chart, cells), new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(directory, "index.html"), Page(result, cells), new UTF8Encoding(false));
    }

    public static string Page(SweepResult result, IReadOnlyList<CellSummary> cells)
    {
        SweepDefinition sweep = result.Sweep;
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>driver run</title>\n");
        html.Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}")
            .Append("th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}small{color:#777}.finding{color:#b00;font-weight:bold}code{background:#f4f4f4}</style>\n</head>\n<body>\n");
        html.Append("<h1>driver run</h1>\n<p>").Append(E(WorkloadLine(result))).Append("</p>\n");
        html.Append("<p>Values are medians over the seeds of each cell, the range (min..max) beneath; times are simulated microseconds; - marks a statistic with no sample (no stall, no completed conversion).</p>\n");
        html.Append("<table>\n<tr><th>strategy</th><th>rule</th>");
        foreach (MetricField field in MetricFields.All)
            html.Append("<th>").Append(E(MetricText.Header(field))).Append("</th>");
        html.Append("</tr>\n");
        foreach (CellSummary cell in cells)
        {
            html.Append("<tr><td>").Append(E(cell.Cell.Strategy)).Append("</td><td>").Append(E(cell.Cell.Rule.ToString())).Append("</td>");
            foreach (MetricField field in MetricFields.All)
            {
                (string median, string? range) = MetricText.Spread(field, cell);
                html.Append("<td>").Append(E(median));
                if (range != null)
                    html.Append("<br><small>").Append(E(range)).Append("</small>");
                html.Append("</td>");
            }

            html.Append("</tr>\n");
        }

        html.Append("</table>\n");
        IReadOnlyList<SweepFinding> findings = result.Findings;
        html.Append("<h2>Security violations: ").Append(findings.Count.ToString(CultureInfo.InvariantCulture)).Append("</h2>\n");
        foreach (SweepFinding finding in findings)
        {
            html.Append("<p class=\"finding\">").Append(E(finding.Cell + " seed " + finding.Seed + ": " + finding.Finding.Rule + ": " + finding.Finding.Detail))
                .Append("<br><code>").Append(E(CommandLineText.Replay(sweep.Options, finding.Cell, finding.Seed))).Append("</code></p>\n");
        }

        foreach (ReportCharts.Chart chart in ReportCharts.All)
            html.Append("<h2>").Append(E(chart.Title)).Append("</h2>\n<img src=\"").Append(E(chart.File)).Append("\" alt=\"").Append(E(chart.Title)).Append("\" width=\"800\">\n");
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static string WorkloadLine(SweepResult result)
    {
        SweepDefinition sweep = result.Sweep;
        Scenarios.ScenarioOptions o = sweep.Options;
        string seeds = sweep.SeedCount == 1 ? "seed " + sweep.FirstSeed : "seeds " + sweep.FirstSeed + ".." + (sweep.FirstSeed + (ulong)(sweep.SeedCount - 1));
        return "guest " + CommandLineText.Size(o.GuestSize) + " on " + CommandLineText.Size(o.FolioSize) + " folios, DMA " + CommandLineText.Rate(o.DmaRate) + "/us of "
            + o.DmaBytes + " bytes (" + CommandLineText.Pattern(o.Pattern) + "), " + CommandLineText.Rate(o.ConversionRate) + " conversions/ms, "
            + CommandLineText.Duration(o.DurationNs) + " per run" + (o.UntrustedDevice ? ", with an untrusted device" : string.Empty)
            + ", " + seeds + (result.Shard.IsWhole ? string.Empty : ", shard " + result.Shard);
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
