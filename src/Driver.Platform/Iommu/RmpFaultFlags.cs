namespace Driver.Platform.Iommu;

/// <summary>
/// Why the RMP check refused a DMA, as this model encodes it in RMP_PAGE_FAULT
/// ev0 23:16 (the published sources name no individual flags).
/// </summary>
[Flags]
public enum RmpFaultFlags : byte
{
    None = 0,

    /// <summary>The page is not hypervisor-owned (a guest, firmware or context page).</summary>
    NotHypervisorOwned = 0x01,

    /// <summary>The RMP page size does not match what the granularity rule requires for the I/O page.</summary>
    SizeMismatch = 0x02,
}
