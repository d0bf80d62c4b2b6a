using System.Collections.Generic;

namespace Driver.Generators.Parsing;

/// <summary>
/// Splits one hwdef line into words and a trailing quoted string, dropping the comment.
/// A '#' inside a quoted string is text.
/// </summary>
internal static class LineLexer
{
    /// <summary>Returns the tokens, or the column of an unterminated string in <paramref name="errorColumn"/>.</summary>
    public static List<Token> Tokenize(string line, out int errorColumn)
    {
        var tokens = new List<Token>();
        errorColumn = -1;
        int i = 0;
        while (i < line.Length)
        {
            char c = line[i];
            if (c == '#')
            {
                break;
            }

            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (c == '"')
            {
                int close = line.IndexOf('"', i + 1);
                if (close < 0)
                {
                    errorColumn = i;
                    return tokens;
                }

                tokens.Add(new Token(line.Substring(i + 1, close - i - 1), true, i));
                i = close + 1;
                continue;
            }

            int start = i;
            while (i < line.Length && !char.IsWhiteSpace(line[i]) && line[i] != '"' && line[i] != '#')
            {
                i++;
            }

            tokens.Add(new Token(line.Substring(start, i - start), false, start));
        }

        return tokens;
    }
}
