namespace Driver.Scenarios.Results;

/// <summary>A file given as a result file that is not one (or not one this version reads); the message names the file and the problem.</summary>
public sealed class ResultFileException(string message) : Exception(message);
