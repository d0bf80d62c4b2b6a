using System.Globalization;
using System.Text;

namespace Driver.Scenarios.Results;

/// <summary>`--csv`: one row per (cell, seed) run with every metric and its finding count, for a spreadsheet or pandas.</summary>
public static class RunsCsv
{
    public static void Write(TextWriter writer, SweepResult result)
    {
        writer.Write("strategy,rule,seed");
        foreach (MetricField field in MetricFields.All)
            writer.Write("," + field.Key);
        writer.Write(",findings\n");
        foreach (RunResult run in result.Runs)
        {
            var line = new StringBuilder();
            line.Append(run.Cell.Strategy).Append(',').Append(run.Cell.Rule).Append(',').Append(run.Seed.ToString(CultureInfo.InvariantCulture));
            foreach (MetricField field in MetricFields.All)
            {
                line.Append(',');
                line.Append(field.IsInteger
                    ? field.GetInteger(run.Metrics).ToString(CultureInfo.InvariantCulture)
                    : field.Get(run.Metrics).ToString("R", CultureInfo.InvariantCulture));
            }

            line.Append(',').Append(run.Findings.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            writer.Write(line.ToString());
        }
    }
}
