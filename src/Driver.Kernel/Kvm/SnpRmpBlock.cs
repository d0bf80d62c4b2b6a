namespace Driver.Kernel.Kvm;

/// <summary>
/// What the RMP says of one 2M run of guest memory, as KVM last set it: one 2M guest entry, or a set
/// of 4K guest entries (the rest hypervisor-owned). Kept by KVM rather than read back, since every
/// RMP change of guest memory goes through <see cref="SnpGuestMemfdArch"/>.
/// </summary>
internal sealed class SnpRmpBlock
{
    // Which 4K entries are assigned; none until the run holds 4K entries (a run of one 2M entry needs none).
    private ulong[]? _assigned;

    /// <summary>The run is one 2M entry assigned to the guest.</summary>
    public bool Whole { get; set; }

    /// <summary>A split PSMASHed the 2M entry; its rollback folds it back.</summary>
    public bool SmashedBySplit { get; set; }

    /// <summary>A page became private at 4K since the last merge: a 2M RMPUPDATE cannot clear a validated page now.</summary>
    public bool FreshPrivate { get; set; }

    public int AssignedCount { get; private set; }

    public bool Empty => !Whole && AssignedCount == 0;

    public bool IsAssigned(int page) => Whole || (_assigned is { } a && (a[page >> 6] & (1UL << (page & 63))) != 0);

    public void SetAssigned(int page, bool assigned)
    {
        ulong bit = 1UL << (page & 63);
        bool was = _assigned is { } a && (a[page >> 6] & bit) != 0;
        if (was == assigned)
            return;
        _assigned ??= new ulong[SnpGuestMemfdArch.PagesPer2M / 64];
        _assigned[page >> 6] ^= bit;
        AssignedCount += assigned ? 1 : -1;
    }

    /// <summary>Every entry of the run hypervisor-owned.</summary>
    public void Clear()
    {
        Whole = false;
        _assigned = null;
        AssignedCount = 0;
    }

    /// <summary>One 2M entry (<paramref name="whole"/>) or 512 4K guest entries of the same state (after PSMASH).</summary>
    public void SetRun(bool whole)
    {
        Whole = whole;
        if (whole)
            _assigned = null;
        else
            Array.Fill(_assigned ??= new ulong[SnpGuestMemfdArch.PagesPer2M / 64], ulong.MaxValue);
        AssignedCount = whole ? 0 : SnpGuestMemfdArch.PagesPer2M;
    }
}
