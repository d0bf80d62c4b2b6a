namespace Driver.Scenarios.Results;

/// <summary>A result read from a file, with the name errors should call it by.</summary>
public sealed record NamedResult(string Name, SweepResult Result);
