using System.Collections.Generic;

namespace Driver.Generators.Parsing;

/// <summary>Numbers and identifiers as the hwdef language spells them.</summary>
internal static class Lexical
{
    private const ulong MaxBit = 1 << 20;

    /// <summary>Decimal, 0x hex or 0b binary, '_' allowed between digits; false on anything else or overflow.</summary>
    public static bool TryParseNumber(string text, out ulong value)
    {
        value = 0;
        int radix = 10;
        int start = 0;
        if (text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        {
            radix = 16;
            start = 2;
        }
        else if (text.Length > 2 && text[0] == '0' && (text[1] == 'b' || text[1] == 'B'))
        {
            radix = 2;
            start = 2;
        }

        if (start >= text.Length || text[start] == '_' || text[text.Length - 1] == '_')
        {
            return false;
        }

        ulong result = 0;
        for (int i = start; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '_')
            {
                if (text[i - 1] == '_')
                {
                    return false;
                }

                continue;
            }

            int digit = DigitValue(c);
            if (digit < 0 || digit >= radix)
            {
                return false;
            }

            ulong shifted = result * (ulong)radix;
            if (shifted / (ulong)radix != result)
            {
                return false;
            }

            ulong next = shifted + (ulong)digit;
            if (next < shifted)
            {
                return false;
            }

            result = next;
        }

        value = result;
        return true;
    }

    private static int DigitValue(char c)
    {
        if (c >= '0' && c <= '9')
        {
            return c - '0';
        }

        if (c >= 'a' && c <= 'f')
        {
            return c - 'a' + 10;
        }

        if (c >= 'A' && c <= 'F')
        {
            return c - 'A' + 10;
        }

        return -1;
    }

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
            if (!TryParseNumber(highText, out ulong high) || !TryParseNumber(lowText, out ulong low))
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
