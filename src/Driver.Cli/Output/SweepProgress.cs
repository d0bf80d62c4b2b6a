using System.Globalization;
using Spectre.Console;

namespace Driver.Cli.Output;

/// <summary>
/// Progress while a sweep runs: a Spectre progress bar on an interactive terminal; otherwise (output
/// redirected to a file, a batch job's log) plain lines, one per tenth of the runs, so a log shows
/// progress without a line per run or any cursor movement.
/// </summary>
internal static class SweepProgress
{
    /// <param name="console">Where to draw.</param>
    /// <param name="description">What is running, e.g. "40 runs (10 cells x 4 seeds) on 2 threads".</param>
    /// <param name="total">Runs to wait for.</param>
    /// <param name="work">The sweep; it calls the tick it is given once per finished run, from any thread.</param>
    public static T Show<T>(IAnsiConsole console, string description, int total, Func<Action, T> work)
    {
        if (console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi)
        {
            return console.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    ProgressTask task = context.AddTask(Markup.Escape("driver run: " + description), maxValue: Math.Max(total, 1));
                    T result = work(() => task.Increment(1));
                    task.Value = task.MaxValue;
                    return result;
                });
        }

        console.WriteLine("driver run: " + description);
        var gate = new Lock();
        int done = 0;
        int lastTenth = 0;
        return work(() =>
        {
            lock (gate)
            {
                done++;
                int tenth = (int)(done * 10L / total);
                if (tenth > lastTenth)
                {
                    lastTenth = tenth;
                    console.WriteLine("driver run: " + done.ToString(CultureInfo.InvariantCulture) + "/" + total.ToString(CultureInfo.InvariantCulture) + " runs done (" + (tenth * 10) + "%)");
                }
            }
        });
    }
}
