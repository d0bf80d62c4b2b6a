using Driver.Platform.Iommu;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Strategies;

namespace Driver.Scenarios.Tests;

/// <summary>A strategy's system as the engine brings it up for seed 1 under AmdToday, and what its trusted IOMMU table maps.</summary>
internal static class BroughtUp
{
    public static (Testbed Bed, IConversionStrategy Strategy) Run(string strategyName, ScenarioOptions? options = null)
    {
        var strategy = Strategies.Strategies.Create(strategyName);
        var bed = ScenarioEngine.BringUp(options ?? Workloads.Small, RmpGranularity.AmdToday, 1, strategy, new StrategyCounters());
        return (bed, strategy);
    }

    /// <summary>The trusted table's leaf over <paramref name="gpa"/>: mapped, its level (0 = 4 KiB, 1 = 2 MiB), the frame; (false, 0, 0) at a hole.</summary>
    public static (bool Mapped, int Level, ulong Pa) TrustedLeaf(Testbed bed, ulong gpa)
    {
        var table = bed.TrustedTable;
        bool mapped = IoPageWalk.TryLeafSlot(bed.Machine.Memory, table.TopPa, table.TopLevel, gpa, out _, out int level);
        return mapped ? (true, level, table.IovaToPhys(gpa)) : (false, 0, 0UL);
    }
}
