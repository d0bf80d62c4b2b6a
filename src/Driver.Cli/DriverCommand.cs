using System.CommandLine;
using Driver.Cli.Commands;

namespace Driver.Cli;

/// <summary>The `driver` command line: one subcommand per job, usage errors as one line and exit code 2.</summary>
public static class DriverCommand
{
    /// <summary>The exit code for bad input: an unknown layout or field, a bad number, the wrong word count, a bad option.</summary>
    public const int UsageError = 2;

    /// <summary>The exit code of a run or merge that found a security violation (its table and files are still written).</summary>
    public const int ViolationFound = 1;

    public static int Run(string[] args, TextWriter output, TextWriter error) =>
        Run(args, output, error, new DriverHost(DriverHost.ConsoleFor(output), DefaultEngine.Create(), Environment.GetEnvironmentVariable, Environment.ProcessorCount));

    internal static int Run(string[] args, TextWriter output, TextWriter error, DriverHost host)
    {
        var root = new RootCommand("Kernel-style driver framework: `driver run` compares the SNP conversion strategies; hardware layouts from hwdefs/, decoded and encoded.")
        {
            RunCommand.Create(host),
            MergeCommand.Create(host),
            HwdefsCommand.Create(output),
            DecodeCommand.Create(output),
            EncodeCommand.Create(output),
        };

        ParseResult parse = root.Parse(args);
        if (parse.UnmatchedTokens.Count > 0)
        {
            error.WriteLine("driver: unknown command or argument '" + parse.UnmatchedTokens[0] + "'; `driver --help` lists the commands");
            return UsageError;
        }

        if (parse.Errors.Count > 0)
        {
            error.WriteLine("driver: " + parse.Errors[0].Message);
            return UsageError;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException problem)
        {
            error.WriteLine("driver: " + problem.Message);
            return UsageError;
        }
    }
}
