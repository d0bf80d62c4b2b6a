using System.Globalization;

namespace Driver.Scenarios.Engine;

/// <summary>The rules a workload must meet before a machine is built for it; each broken one is one line.</summary>
public static class ScenarioOptionsCheck
{
    /// <summary>The first problem with <paramref name="options"/>, or null when it can run.</summary>
    public static string? Problem(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.FolioSize is not (GuestLayout.Page4K or GuestLayout.Page2M))
            return $"folio size {options.FolioSize} is neither 4 KiB nor 2 MiB";
        if (options.GuestSize == 0 || options.GuestSize % options.FolioSize != 0)
            return $"guest size {options.GuestSize} is not a non-zero multiple of the folio size {options.FolioSize}";
        if (!(options.DmaRate > 0) || double.IsInfinity(options.DmaRate))
            return string.Create(CultureInfo.InvariantCulture, $"DMA rate {options.DmaRate} is not above 0");
        if (!(options.ConversionRate > 0) || double.IsInfinity(options.ConversionRate))
            return string.Create(CultureInfo.InvariantCulture, $"conversion rate {options.ConversionRate} is not above 0");
        if (options.DmaBytes is 0 or > (uint)GuestLayout.Page4K)
            return $"DMA size {options.DmaBytes} is not 1 to 4096 bytes";
        if (options.DurationNs == 0 || options.DurationNs > long.MaxValue / 4)
            return $"duration {options.DurationNs} ns is out of range";
        return null;
    }
}
