namespace Driver.Platform.Dma;

/// <summary>
/// The record of one transaction: when it was issued and finished, how long
/// firmware stalled it, how it ended, and the IOMMU's event (two words) when it failed.
/// </summary>
public sealed record DmaRecord(
    long IssuedNs,
    long FinishedNs,
    ushort DeviceId,
    DmaOp Op,
    DmaOutcome Outcome,
    long StalledNs,
    ulong EventWord0,
    ulong EventWord1,
    ulong FirstWordRead);
