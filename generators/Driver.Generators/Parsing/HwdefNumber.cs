namespace Driver.Generators.Parsing;

/// <summary>
/// The number grammar of docs/hwdef-format.md: decimal, 0x hex or 0b binary, '_' between digits.
/// The one definition: the generator's lexer compiles it, and the `driver` command links this
/// file so that it reads numbers on its command line exactly as hwdef files write them.
/// </summary>
internal static class HwdefNumber
{
    /// <summary>False on anything else, on a '_' that does not sit between two digits, and on overflow.</summary>
    public static bool TryParse(string text, out ulong value)
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
}
