using Driver.Generators.Parsing;

namespace Driver.Cli;

/// <summary>Numbers on the command line, in the hwdef grammar (<see cref="HwdefNumber"/>, linked from the generator).</summary>
internal static class NumberParser
{
    public static ulong Parse(string text, string what) =>
        HwdefNumber.TryParse(text, out ulong value) ? value : throw new UsageException("'" + text + "' is not a number (" + what + "); use decimal, 0x hex or 0b binary");
}
