using System.Text.Json;
using Driver.Scenarios.Sweep;

namespace Driver.Scenarios.Results;

/// <summary>
/// `--json`: the table as data: the sweep, then per cell the spread (min, median, max) of every
/// metric over its seeds, and every finding with the command that replays it.
/// </summary>
public static class SummaryJson
{
    public const string Format = "driver-run-summary";

    public const int Version = 1;

    public static void Write(Stream stream, SweepResult result)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, NewLine = "\n" });
        json.WriteStartObject();
        json.WriteString("format", Format);
        json.WriteNumber("version", Version);
        ResultFile.WriteSweep(json, result.Sweep);
        json.WriteString("shard", result.Shard.ToString());
        json.WriteStartArray("cells");
        foreach (CellSummary cell in result.Summarise())
        {
            json.WriteStartObject();
            json.WriteString("strategy", cell.Cell.Strategy);
            json.WriteString("rule", cell.Cell.Rule.ToString());
            json.WriteNumber("seeds", cell.Seeds);
            json.WriteStartObject("metrics");
            for (int i = 0; i < MetricFields.All.Count; i++)
            {
                json.WriteStartObject(MetricFields.All[i].Key);
                json.WriteNumber("min", cell.Spreads[i].Min);
                json.WriteNumber("median", cell.Spreads[i].Median);
                json.WriteNumber("max", cell.Spreads[i].Max);
                if (MetricFields.All[i].IsInteger)
                    json.WriteNumber("total", cell.Spreads[i].Total);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteStartArray("findings");
            foreach (SweepFinding finding in cell.Findings)
            {
                json.WriteStartObject();
                json.WriteNumber("seed", finding.Seed);
                json.WriteString("rule", finding.Finding.Rule);
                json.WriteNumber("address", finding.Finding.Address);
                json.WriteNumber("time_ns", finding.Finding.TimeNs);
                json.WriteString("detail", finding.Finding.Detail);
                json.WriteString("replay", CommandLineText.Replay(result.Sweep.Options, finding.Cell, finding.Seed));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }
}
