namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>What a page table needs from the IOMMU driver that owns it.</summary>
public interface IIommuPtDriver
{
    /// <summary>
    /// Invalidates every cached translation and table walk for IOVA
    /// <paramref name="iova"/>..<paramref name="last"/> (inclusive) and returns
    /// when hardware has finished; table frames are freed after this.
    /// </summary>
    void FlushIotlb(ulong iova, ulong last);

    /// <summary>
    /// Points hardware at a taller table. Called under the top lock before
    /// software publishes the new top; needs no flush, as the old top stays
    /// reachable at index 0 of the new one.
    /// </summary>
    void ChangeTop(ulong topPa, int topLevel);
}
