using Driver.Cli.Report;
using Driver.Cli.Run;
using Driver.Scenarios.Results;
using Driver.Scenarios.Sweep;
using Spectre.Console;

namespace Driver.Cli.Output;

/// <summary>What `driver run` and `driver merge` both show and write once they hold a result.</summary>
internal static class OutputWriter
{
    /// <summary>Findings printed on the console; a sweep where every seed violates would otherwise bury the table.</summary>
    private const int MaxFindingsShown = 20;

    /// <summary>The table, the line beside it, the findings, then the files; 1 when there is a finding, else 0.</summary>
    public static int Present(IAnsiConsole console, SweepResult result, OutputFiles outputs, string besideTable)
    {
        IReadOnlyList<CellSummary> cells = result.Summarise();
        console.Write(SweepTable.Build(cells, result.Sweep.SeedCount));
        Table? spread = SweepTable.BuildSpread(cells, result.Sweep.SeedCount);
        if (spread != null)
            console.Write(spread);
        console.WriteLine(besideTable + (result.Shard.IsWhole ? string.Empty : "; shard " + result.Shard + " only: merge the shards with `driver merge`"));
        IReadOnlyList<SweepFinding> findings = result.Findings;
        foreach (SweepFinding finding in findings.Take(MaxFindingsShown))
        {
            console.MarkupLine("[bold red]SECURITY VIOLATION[/] " + Markup.Escape(finding.Cell + " seed " + finding.Seed + ": " + finding.Finding.Rule + " at 0x"
                + finding.Finding.Address.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + ", " + finding.Finding.TimeNs + " ns: " + finding.Finding.Detail));

            // Past Spectre, which would fold a long line at the terminal's width and break the copy and paste.
            console.Profile.Out.Writer.WriteLine("  replay: " + CommandLineText.Replay(result.Sweep.Options, finding.Cell, finding.Seed));
        }

        if (findings.Count > MaxFindingsShown)
            console.WriteLine("... and " + (findings.Count - MaxFindingsShown) + " more; --json lists every one with its replay command");
        if (findings.Count > 0)
            console.MarkupLine("[bold red]" + findings.Count + (findings.Count == 1 ? " security violation" : " security violations") + " found[/]");

        if (outputs.Result != null)
            WriteFile(outputs.Result, stream => ResultFile.Write(stream, result));
        if (outputs.Json != null)
            WriteFile(outputs.Json, stream => SummaryJson.Write(stream, result));
        if (outputs.Csv != null)
        {
            WriteFile(outputs.Csv, stream =>
            {
                using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), leaveOpen: true);
                RunsCsv.Write(writer, result);
            });
        }

        if (outputs.Report != null)
            Guard(outputs.Report, () => ReportWriter.Write(outputs.Report, result));
        return findings.Count > 0 ? 1 : 0;
    }

    /// <summary>Writes a file whole (its directory made if need be); a path that cannot be written is a usage error naming it.</summary>
    public static void WriteFile(string path, Action<Stream> write) => Guard(path, () =>
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory != null)
            Directory.CreateDirectory(directory);
        using FileStream stream = File.Create(path);
        write(stream);
    });

    public static SweepResult ReadResult(string path)
    {
        try
        {
            using FileStream stream = File.OpenRead(path);
            return ResultFile.Read(stream, path);
        }
        catch (ResultFileException problem)
        {
            throw new UsageException(problem.Message);
        }
        catch (Exception problem) when (problem is IOException or UnauthorizedAccessException)
        {
            throw new UsageException("cannot read " + path + ": " + problem.Message);
        }
    }

    private static void Guard(string path, Action action)
    {
        try
        {
            action();
        }
        catch (Exception problem) when (problem is IOException or UnauthorizedAccessException)
        {
            throw new UsageException("cannot write " + path + ": " + problem.Message);
        }
    }
}
