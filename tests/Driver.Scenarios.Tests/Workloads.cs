using Driver.Platform.Iommu;

namespace Driver.Scenarios.Tests;

/// <summary>Small workloads that run in milliseconds of host time.</summary>
internal static class Workloads
{
    /// <summary>Four 2 MiB blocks, the device at 10 transactions per microsecond aimed at the blocks being converted.</summary>
    public static ScenarioOptions Small { get; } = new()
    {
        GuestSize = 8UL << 20,
        DmaRate = 10.0,
        Pattern = DmaPattern.Hotspot,
        ConversionRate = 20.0,
        DurationNs = 1_000_000,
    };

    /// <summary>Two 2 MiB blocks for 30 us, with the untrusted device: what a sweep over thousands of seeds can afford.</summary>
    public static ScenarioOptions Tiny { get; } = new()
    {
        GuestSize = 4UL << 20,
        DmaRate = 10.0,
        Pattern = DmaPattern.Hotspot,
        ConversionRate = 40.0,
        DurationNs = 30_000,
        UntrustedDevice = true,
    };

    public static IEnumerable<CellKey> AllCells() =>
        from s in StrategyNames.All
        from r in new[] { RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest }
        select new CellKey(s, r);
}
