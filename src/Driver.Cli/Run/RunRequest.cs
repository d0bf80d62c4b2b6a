using Driver.Scenarios.Sweep;

namespace Driver.Cli.Run;

/// <summary>`driver run` once its options are read and checked: the sweep, the share of it to run, threads and outputs.</summary>
internal sealed record RunRequest(SweepDefinition Sweep, Shard Shard, int Jobs, OutputFiles Outputs, string? Trace);
