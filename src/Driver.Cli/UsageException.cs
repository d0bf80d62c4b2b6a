namespace Driver.Cli;

/// <summary>Bad input from the user; reported as one line with exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
