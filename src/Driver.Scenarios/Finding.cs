namespace Driver.Scenarios;

/// <summary>A security violation a run found: which monitor rule, where and when, in words a person can act on.</summary>
public sealed record Finding(string Rule, ulong Address, ulong TimeNs, string Detail);
