namespace Driver.Scenarios;

/// <summary>
/// Runs one cell of the comparison for one seed on a fresh machine. The same options, cell and seed
/// give the same <see cref="RunResult"/>; different seeds choose different interleavings. Safe to call
/// from several threads at once (each run owns its machine).
/// </summary>
public interface IScenarioEngine
{
    RunResult Run(ScenarioOptions options, CellKey cell, ulong seed, ITraceSink? trace = null, CancellationToken cancel = default);
}
