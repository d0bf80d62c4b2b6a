namespace Driver.Platform.Iommu;

/// <summary>How the IOMMU matches an I/O page against the RMP page size (seed 000).</summary>
public enum RmpGranularity
{
    /// <summary>Today's AMD rule: I/O pages of 2 MiB or more need a 2 MiB RMP entry, smaller ones a 4 KiB entry.</summary>
    AmdToday,

    /// <summary>The rule a CPU nested walk follows: use the smaller of I/O page and RMP page, never fail on size.</summary>
    DeriveSmallest,
}
