using System.Globalization;

namespace Driver.Scenarios.Sweep;

/// <summary>
/// Option values written the way `driver run` reads them back: sizes with the largest binary suffix
/// that is exact (64M, 1T), times with the largest exact unit (10ms), rates in the shortest exact decimal.
/// </summary>
public static class CommandLineText
{
    private static readonly (string Suffix, int Shift)[] SizeSuffixes = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];

    private static readonly (string Suffix, ulong Ns)[] TimeUnits = [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)];

    public static string Size(ulong bytes)
    {
        foreach ((string suffix, int shift) in SizeSuffixes)
        {
            ulong unit = 1UL << shift;
            if (bytes != 0 && bytes % unit == 0)
                return (bytes >> shift).ToString(CultureInfo.InvariantCulture) + suffix;
        }

        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    public static string Duration(ulong ns)
    {
        foreach ((string suffix, ulong unit) in TimeUnits)
        {
            if (ns != 0 && ns % unit == 0)
                return (ns / unit).ToString(CultureInfo.InvariantCulture) + suffix;
        }

        return ns.ToString(CultureInfo.InvariantCulture) + "ns";
    }

    public static string Rate(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public static string Pattern(DmaPattern pattern) => pattern.ToString().ToLowerInvariant();

    /// <summary>The one command that runs this cell and seed alone under the same workload.</summary>
    public static string Replay(ScenarioOptions options, CellKey cell, ulong seed)
    {
        var parts = new List<string>
        {
            "driver run",
            "--strategy " + cell.Strategy,
            "--rule " + cell.Rule,
            "--guest-size " + Size(options.GuestSize),
            "--folio-size " + Size(options.FolioSize),
            "--dma-rate " + Rate(options.DmaRate),
            "--dma-bytes " + options.DmaBytes.ToString(CultureInfo.InvariantCulture),
            "--pattern " + Pattern(options.Pattern),
            "--conversion-rate " + Rate(options.ConversionRate),
            "--duration " + Duration(options.DurationNs),
        };
        if (options.UntrustedDevice)
            parts.Add("--untrusted");
        parts.Add("--seed " + seed.ToString(CultureInfo.InvariantCulture));
        return string.Join(' ', parts);
    }
}
