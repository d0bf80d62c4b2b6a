using Driver.Scenarios;

namespace Driver.Cli;

/// <summary>The engine `driver run` uses outside tests.</summary>
internal static class DefaultEngine
{
    public static IScenarioEngine? Create() => null;
}
