namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>Flags of <see cref="IommuPageTable{TFormat}.ReadAndClearDirty"/>.</summary>
[Flags]
public enum DirtyFlags
{
    None = 0,

    /// <summary>Report dirty entries but leave them dirty (IOMMU_DIRTY_NO_CLEAR).</summary>
    NoClear = 1,
}
