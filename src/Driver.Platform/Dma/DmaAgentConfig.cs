namespace Driver.Platform.Dma;

/// <summary>What a DMA-capable device does: its DeviceID, the transactions it cycles through, and how often.</summary>
public sealed record DmaAgentConfig(ushort DeviceId, IReadOnlyList<DmaOp> Ops)
{
    /// <summary>Time between the starts of two transactions.</summary>
    public long IntervalNs { get; init; } = 1_000;

    /// <summary>When the first transaction is issued.</summary>
    public long StartNs { get; init; }

    /// <summary>Transactions to issue in all (the ops are cycled); one pass by default.</summary>
    public long Transactions { get; init; } = -1;

    /// <summary>
    /// The device is a TDI (SEV-TIO) and sends its requests with T=1. Under SNP the IOMMU honours
    /// them only once firmware bound the TDI to a guest (TIO_TDI_BIND); they then carry that guest.
    /// </summary>
    public bool Trusted { get; init; }
}
