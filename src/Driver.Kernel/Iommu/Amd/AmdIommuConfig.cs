namespace Driver.Kernel.Iommu.Amd;

/// <summary>How the AMD IOMMU driver is brought up (the IVRS facts and the amd_iommu= options).</summary>
public sealed record AmdIommuConfig
{
    /// <summary>Physical address of the MMIO window (IVRS IVHD base address).</summary>
    public ulong MmioBase { get; init; } = 0xFED8_0000;

    /// <summary>The highest DeviceID behind this IOMMU (IVRS last_bdf); sizes the device table.</summary>
    public ushort LastDeviceId { get; init; } = 0xFF;

    /// <summary>Command ring entries as a power of two; Linux uses 512.</summary>
    public int CommandBufferLengthLg2 { get; init; } = 9;

    /// <summary>Event log entries as a power of two; Linux uses 256.</summary>
    public int EventLogLengthLg2 { get; init; } = 8;

    /// <summary>The interrupt line of the IOMMU's MSI; the event log is drained on it when the driver is given interrupts.</summary>
    public int Irq { get; init; } = 24;

    /// <summary>iommu=pt: devices default to the identity domain.</summary>
    public bool Passthrough { get; init; }

    /// <summary>
    /// Keep every AMDv1 page size after SNP is enabled. Linux limits domains to 4K pages
    /// then (as amd_iommu=nohugepages); this lifts that for experiments.
    /// </summary>
    public bool HugePagesWithSnp { get; init; }

    /// <summary>
    /// Test only: IOTLB flushes post their COMPLETION_WAIT but not the INVALIDATE_IOMMU_PAGES
    /// before it. It exists so that a test can show the platform's stale-translation monitor
    /// catching a driver that forgets to invalidate; no real configuration sets it.
    /// </summary>
    internal bool SkipIotlbInvalidation { get; init; }
}
