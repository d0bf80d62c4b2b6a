namespace Driver.Platform.Iommu;

/// <summary>Firmware holds DMA to [First, Last] of system memory until <see cref="UntilNs"/>.</summary>
internal readonly record struct DmaStall(ulong First, ulong Last, long UntilNs);
