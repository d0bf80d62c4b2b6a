namespace Driver.Platform.Iommu;

/// <summary>
/// SNP: the RMP check on every DMA once firmware turns enforcement on, with the
/// two granularity rules, and the firmware-only controls (enforcement, lock,
/// DMA stall) that the PSP model uses. The host has no register for any of it.
/// </summary>
public sealed partial class AmdIommu
{
    private const int PageShift2M = 21;

    private readonly List<DmaStall> _stalls = [];

    /// <summary>Whether the IOMMU meets SNP_INIT's requirements: enabled and EFR.SNPSup.</summary>
    internal bool ReadyForSnp => _control.IommuEn && _efr.SnpSup;

    internal void EnableSnp()
    {
        SnpEnforced = true;
        ConfigLocked = true;
        FlushAllCaches();
    }

    internal void DisableSnp()
    {
        SnpEnforced = false;
        ConfigLocked = false;
        FlushAllCaches();
    }

    /// <summary>Holds DMA to [first, last] until <paramref name="untilNs"/>.</summary>
    internal void Stall(ulong first, ulong last, long untilNs) => _stalls.Add(new DmaStall(first, last, untilNs));

    /// <summary>Drops cached translations that point into [first, last] of system memory.</summary>
    internal void FlushSpa(ulong first, ulong last) => _iotlb.InvalidateSpa(first, last);

    private long? StalledUntil(ulong spa)
    {
        long now = _scheduler.NowNs;
        _stalls.RemoveAll(s => s.UntilNs <= now);
        foreach (var s in _stalls)
            if (spa >= s.First && spa <= s.Last)
                return s.UntilNs;
        return null;
    }

    private RmpCheckResult RmpCheck(ulong spa, int ioPageShift, bool sizeRule, ref long cost)
    {
        if (_rmp is null || !_rmp.Covers(spa))
            return new RmpCheckResult(false, RmpFaultFlags.None, Math.Min(ioPageShift, PageShift2M));
        cost += _costs.IommuMemoryAccessNs;
        var entry = _rmp.ReadEffective(spa >> 12, out bool is2M);
        if (entry.Assigned)
            return new RmpCheckResult(true, RmpFaultFlags.NotHypervisorOwned, 0);
        int rmpShift = is2M ? PageShift2M : PageShift4K;
        if (!sizeRule || _config.RmpRule == RmpGranularity.DeriveSmallest)
            return new RmpCheckResult(false, RmpFaultFlags.None, Math.Min(ioPageShift, rmpShift));
        // Today's rule: 2M and larger I/O pages need a 2M RMP entry, smaller ones a 4K entry.
        int required = ioPageShift >= PageShift2M ? PageShift2M : PageShift4K;
        return required == rmpShift
            ? new RmpCheckResult(false, RmpFaultFlags.None, required)
            : new RmpCheckResult(true, RmpFaultFlags.SizeMismatch, 0);
    }
}
