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

    /// <summary>Where the leaf PTE the walk used is, and what it held (for the A/D update).</summary>
    public ulong LeafPa;
    public ulong LeafRaw;

    /// <summary>A live walk that resumed from the PDE cache: when that entry was filled, and the level of the table it leads to.</summary>
    public long PdeEpoch;
    public int PdeNextLevel;

    /// <summary>A shadow walk met an entry whose change a completed COMPLETION_WAIT settled after the translation was cached.</summary>
    public bool SettledChange;
}
