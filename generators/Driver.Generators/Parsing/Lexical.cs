using System.Collections.Generic;

namespace Driver.Generators.Parsing;

/// <summary>Identifiers and bit ranges as the hwdef language spells them (numbers: <see cref="HwdefNumber"/>).</summary>
internal static class Lexical
{
    private const ulong MaxBit = 1 << 20;

    public static bool IsIdentifier(string text)
    {
        if (text.Length == 0 || !(IsLetter(text[0]) || text[0] == '_'))
        {
            return false;
        }

        for (int i = 1; i < text.Length; i++)
        {
            char c = text[i];
            if (!(IsLetter(c) || c == '_' || (c >= '0' && c <= '9')))
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsDottedName(string text)
    {
        foreach (string part in text.Split('.'))
        {
            if (!IsIdentifier(part))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsLetter(char c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

    /// <summary>Parses "N", "H:L" or pieces "H:L,H:L,..."; false with a message when malformed.</summary>
    public static bool TryParseRange(string text, List<Model.BitRange> pieces, out string error)
    {
        error = string.Empty;
        foreach (string part in text.Split(','))
        {
            int colon = part.IndexOf(':');
            string highText = colon < 0 ? part : part.Substring(0, colon);
            string lowText = colon < 0 ? part : part.Substring(colon + 1);
            if (!HwdefNumber.TryParse(highText, out ulong high) || !HwdefNumber.TryParse(lowText, out ulong low))
            {
                error = "'" + text + "' is not a bit range (N, H:L or H:L,H:L,...)";
                return false;
            }

            // Clamped so that an absurd bit number is reported as outside the layout, not as an overflow.
            pieces.Add(new Model.BitRange((int)System.Math.Min(high, MaxBit), (int)System.Math.Min(low, MaxBit)));
        }

        return true;
    }
}
