namespace Driver.Generators.Model;

/// <summary>A diagnostic carried as a value through the pipeline and reported at the end.</summary>
internal sealed record DiagnosticInfo(string Id, string Message, string Path, SourceSpan Span);
