using Driver.Scenarios;

namespace Driver.Cli;

/// <summary>The engine `driver run` uses outside tests: the scenarios on the simulated machine.</summary>
internal static class DefaultEngine
{
    public static IScenarioEngine Create() => new ScenarioEngine();
}
