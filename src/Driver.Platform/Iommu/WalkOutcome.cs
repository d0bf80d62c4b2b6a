namespace Driver.Platform.Iommu;

/// <summary>Where a page walk ended: a leaf with its permissions, or a fault and why.</summary>
internal struct WalkOutcome
{
    public bool Fault;
    public bool EntryPresent;
    public bool ReservedBits;

    /// <summary>The table pointer the walk could not follow (beyond the physical limit), or zero.</summary>
    public ulong UnreachableTable;
    public ulong Spa;
    public int PageShift;
    public bool Read;
    public bool Write;
}
