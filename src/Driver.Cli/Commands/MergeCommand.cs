using System.CommandLine;
using Driver.Cli.Output;
using Driver.Cli.Run;
using Driver.Scenarios.Results;

namespace Driver.Cli.Commands;

/// <summary>`driver merge FILE...`: the shards of one sweep back into its table, files and report.</summary>
internal static class MergeCommand
{
    public static Command Create(DriverHost host)
    {
        var files = new Argument<string[]>("files") { Description = "The shards' result files (`driver run --shard I/N --out FILE`)", Arity = ArgumentArity.OneOrMore };
        var json = new Option<string?>("--json") { Description = "Write the table as JSON" };
        var csv = new Option<string?>("--csv") { Description = "Write every (cell, seed) run's metrics as CSV" };
        var output = new Option<string?>("--out") { Description = "Write the merged result file (the same bytes as an unsharded run)" };
        var report = new Option<string?>("--report") { Description = "Write charts (SVG) and index.html into this directory" };
        var command = new Command("merge", "Merge the result files of a sharded sweep into one table, result file and report.") { files, json, csv, output, report };
        command.SetAction(parse =>
        {
            var shards = new List<NamedResult>();
            foreach (string file in parse.GetRequiredValue(files))
                shards.Add(new NamedResult(file, OutputWriter.ReadResult(file)));
            SweepResult merged;
            try
            {
                merged = ShardMerge.Merge(shards);
            }
            catch (ShardMergeException problem)
            {
                throw new UsageException(problem.Message);
            }

            var outputs = new OutputFiles(parse.GetValue(json), parse.GetValue(csv), parse.GetValue(output), parse.GetValue(report));
            return OutputWriter.Present(host.Console, merged, outputs, "merged " + shards.Count + (shards.Count == 1 ? " file" : " files"));
        });
        return command;
    }
}
