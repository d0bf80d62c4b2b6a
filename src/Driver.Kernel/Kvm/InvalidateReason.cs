namespace Driver.Kernel.Kvm;

/// <summary>Why guest_memfd takes a range away from its users.</summary>
public enum InvalidateReason
{
    /// <summary>Private pages become shared: private stage-2 (and secure IOMMU) entries must go.</summary>
    ToShared,

    /// <summary>Shared pages become private: host mappings and shared stage-2 entries must go.</summary>
    ToPrivate,

    /// <summary>A hole is punched or the file is released: every mapping of the range must go.</summary>
    Truncate,
}
