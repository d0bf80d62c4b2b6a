namespace Driver.Scenarios.Results;

/// <summary>Result files that do not make one sweep: different options, a shard twice, a shard missing.</summary>
public sealed class ShardMergeException(string message) : Exception(message);
