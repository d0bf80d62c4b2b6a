using Driver.Scenarios;
using Driver.TestSupport;
using Spectre.Console.Testing;

namespace Driver.Cli.Tests;

/// <summary>`driver` as a user types it, over a TestConsole (redirected unless told otherwise), an engine and an environment of the test's choosing.</summary>
internal sealed class RunHarness : IDisposable
{
    public RunHarness(IScenarioEngine? engine = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        Engine = engine ?? new FakeScenarioEngine();
        Environment = environment ?? new Dictionary<string, string>();
        Directory = Path.Combine(Path.GetTempPath(), "driver-run-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public IScenarioEngine Engine { get; }

    public IReadOnlyDictionary<string, string> Environment { get; set; }

    /// <summary>A fresh directory for the test's files, removed afterwards.</summary>
    public string Directory { get; }

    public string File(string name) => Path.Combine(Directory, name);

    public (int Code, string Output, string Error) Run(params string[] args) => Run(new TestConsole().Width(250), args);

    public (int Code, string Output, string Error) Run(TestConsole console, params string[] args)
    {
        var error = new StringWriter();
        var host = new DriverHost(console, Engine, name => Environment.GetValueOrDefault(name), 2);
        int code = DriverCommand.Run(args, new StringWriter(), error, host);
        return (code, console.Output, error.ToString().TrimEnd('\n'));
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
