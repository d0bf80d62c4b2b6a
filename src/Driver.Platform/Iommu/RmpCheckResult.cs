namespace Driver.Platform.Iommu;

/// <summary>The RMP check's verdict and the IOTLB entry size it allows.</summary>
internal readonly record struct RmpCheckResult(bool Refused, RmpFaultFlags Flags, int EntryShift)
{
    public static RmpCheckResult Allow(int entryShift) => new(false, RmpFaultFlags.None, entryShift);
}
