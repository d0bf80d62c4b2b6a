using System.Globalization;

namespace Driver.Cli;

/// <summary>Numbers as hwdef files write them: decimal, 0x hex or 0b binary, '_' between digits.</summary>
internal static class NumberParser
{
    public static bool TryParse(string text, out ulong value)
    {
        value = 0;
        string digits = text;
        NumberStyles style = NumberStyles.None;
        int radix = 10;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            digits = text[2..];
            style = NumberStyles.AllowHexSpecifier;
            radix = 16;
        }
        else if (text.StartsWith("0b", StringComparison.OrdinalIgnoreCase))
        {
            digits = text[2..];
            radix = 2;
        }

        if (digits.Length == 0 || digits[0] == '_' || digits[^1] == '_' || digits.Contains("__", StringComparison.Ordinal))
        {
            return false;
        }

        digits = digits.Replace("_", string.Empty, StringComparison.Ordinal);
        if (radix == 2)
        {
            return TryParseBinary(digits, out value);
        }

        return digits.All(c => radix == 16 ? char.IsAsciiHexDigit(c) : char.IsAsciiDigit(c))
            && ulong.TryParse(digits, style, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryParseBinary(string digits, out ulong value)
    {
        value = 0;
        if (digits.Length > 64)
        {
            return false;
        }

        foreach (char c in digits)
        {
            if (c != '0' && c != '1')
            {
                return false;
            }

            value = (value << 1) | (c == '1' ? 1UL : 0UL);
        }

        return true;
    }

    public static ulong Parse(string text, string what) =>
        TryParse(text, out ulong value) ? value : throw new UsageException("'" + text + "' is not a number (" + what + "); use decimal, 0x hex or 0b binary");
}
