namespace Driver.Cli.Run;

/// <summary>The files a run or a merge writes besides the table; null for one not asked for.</summary>
internal sealed record OutputFiles(string? Json, string? Csv, string? Result, string? Report);
