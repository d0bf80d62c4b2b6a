namespace Driver.Scenarios.Strategies;

/// <summary>RMP changes made by firmware rather than by the host's RMPUPDATE and PSMASH instructions.</summary>
internal sealed class StrategyCounters
{
    /// <summary>2 MiB RMP entries split by a firmware call (the proposed IOPDE smash, the mirroring owner).</summary>
    public long FirmwareSmashes { get; set; }

    /// <summary>4 KiB RMP entries written by the mirroring owner.</summary>
    public long FirmwareRmpWrites { get; set; }
}
