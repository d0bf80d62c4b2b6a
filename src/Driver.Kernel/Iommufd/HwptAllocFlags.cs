namespace Driver.Kernel.Iommufd;

/// <summary>IOMMU_HWPT_ALLOC_* flags, with the uAPI's values.</summary>
[Flags]
public enum HwptAllocFlags : uint
{
    None = 0,

    /// <summary>The domain may become a nesting parent (not offered here: EOPNOTSUPP).</summary>
    NestParent = 1 << 0,

    /// <summary>The domain must support dirty tracking.</summary>
    DirtyTracking = 1 << 1,

    /// <summary>FaultId names a FAULT object (none exist here: ENOENT).</summary>
    FaultIdValid = 1 << 2,

    /// <summary>The domain may be attached with a PASID (not offered here: EOPNOTSUPP).</summary>
    Pasid = 1 << 3,

    /// <summary>
    /// Proposed with IOAS_MAP_GUEST_MEMFD (seed 004; not upstream): the domain is a TDI's and maps the
    /// private pages of guest_memfd bindings; without it a domain maps only their shared pages.
    /// </summary>
    GuestPrivate = 1u << 31,
}
