using Driver.Hw.AmdIommu;

namespace Driver.Platform.Iommu;

/// <summary>What kind of AMD IOMMU to build: its capabilities and the sizes of its caches.</summary>
public sealed record IommuConfig
{
    /// <summary>The read-only EFR: SNP support, INVALIDATE_IOMMU_ALL, 6-level host tables by default.</summary>
    public ExtendedFeatureRegister Efr { get; init; } = new ExtendedFeatureRegister(0)
        .WithSnpSup(true).WithIaSup(true).WithHats(HostAddressTranslationSize.Level6);

    public ExtendedFeature2Register Efr2 { get; init; } = new(0);

    /// <summary>Device-table entries cached (direct mapped by DeviceID).</summary>
    public int DteCacheEntries { get; init; } = 64;

    /// <summary>IOTLB sets (a power of two) and ways.</summary>
    public int IotlbSets { get; init; } = 128;

    public int IotlbWays { get; init; } = 4;

    /// <summary>Page-directory cache sets (a power of two) and ways.</summary>
    public int PdeCacheSets { get; init; } = 32;

    public int PdeCacheWays { get; init; } = 4;

    public RmpGranularity RmpRule { get; init; } = RmpGranularity.AmdToday;

    /// <summary>
    /// Width of the system addresses the IOMMU can reach (32 to 52). Every address it reads
    /// out of a register or memory is checked against it: beyond it, the hardware's error event.
    /// </summary>
    public int PhysicalAddressBits { get; init; } = Driver.Hw.Interfaces.IPhysicalMemory.AddressBits;
}
