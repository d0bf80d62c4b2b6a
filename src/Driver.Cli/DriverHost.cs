using Driver.Scenarios;
using Spectre.Console;

namespace Driver.Cli;

/// <summary>
/// What the commands use from the world around them: the console `driver run` draws on, the engine
/// that runs a cell, the environment (for `--shard auto`) and the core count (for `--jobs`).
/// Tests give a TestConsole, a fake engine and a made-up environment.
/// </summary>
internal sealed record DriverHost(IAnsiConsole Console, IScenarioEngine? Engine, Func<string, string?> GetEnvironment, int ProcessorCount)
{
    /// <summary>The console over <paramref name="output"/>: a terminal (progress bar, colour) only when it is the process's own, unredirected standard output.</summary>
    public static IAnsiConsole ConsoleFor(TextWriter output)
    {
        bool terminal = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Yes : InteractionSupport.No,
        });

        // A file or a batch log has no width; Spectre's 80 columns would fold the table.
        if (!terminal)
            console.Profile.Width = 200;
        return console;
    }
}
