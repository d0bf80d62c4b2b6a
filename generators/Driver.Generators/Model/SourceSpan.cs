namespace Driver.Generators.Model;

/// <summary>A place in a hwdef file: 0-based line and column (as Roslyn counts), absolute offset and length.</summary>
internal readonly record struct SourceSpan(int Line, int Column, int Start, int Length);
