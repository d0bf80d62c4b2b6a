namespace Driver.Kernel.Iommufd;

/// <summary>IOMMU_HWPT_ALLOC_* flags.</summary>
[Flags]
public enum HwptAllocFlags : uint
{
    None = 0,

    /// <summary>The domain may become a nesting parent (not offered here: EOPNOTSUPP).</summary>
    NestParent = 1 << 0,

    /// <summary>The domain must support dirty tracking.</summary>
    DirtyTracking = 1 << 1,

    /// <summary>The domain may be attached with a PASID (not offered here: EOPNOTSUPP).</summary>
    Pasid = 1 << 2,
}
