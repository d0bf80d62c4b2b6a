namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>Access a mapping grants (Linux's IOMMU_READ, IOMMU_WRITE, ... with their values).</summary>
[Flags]
public enum IommuProt
{
    None = 0,
    Read = 1,
    Write = 2,
    Cache = 4,
    NoExec = 8,
    Mmio = 16,
}
