namespace Driver.Generators.Parsing;

/// <summary>A word (anything between blanks) or a quoted documentation string, with its 0-based column.</summary>
internal readonly record struct Token(string Text, bool IsString, int Column);
