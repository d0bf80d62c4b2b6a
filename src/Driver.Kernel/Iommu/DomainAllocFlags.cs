namespace Driver.Kernel.Iommu;

/// <summary>Flags of a paging-domain allocation (Linux IOMMU_HWPT_ALLOC_*).</summary>
[Flags]
public enum DomainAllocFlags
{
    None = 0,

    /// <summary>The domain must support dirty tracking (IOMMU_HWPT_ALLOC_DIRTY_TRACKING).</summary>
    DirtyTracking = 1,
}
