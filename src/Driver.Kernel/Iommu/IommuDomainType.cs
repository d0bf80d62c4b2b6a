namespace Driver.Kernel.Iommu;

/// <summary>The kinds of domain a device can be attached to (Linux IOMMU_DOMAIN_*).</summary>
public enum IommuDomainType
{
    /// <summary>DMA is refused.</summary>
    Blocked,

    /// <summary>DMA addresses are physical addresses (passthrough).</summary>
    Identity,

    /// <summary>DMA is translated by a page table the kernel owns.</summary>
    Paging,
}
