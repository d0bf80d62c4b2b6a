using Driver.Platform.Snp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Iommu;

/// <summary>
/// SNP at the IOMMU: the RMP check on every DMA once firmware turns
/// enforcement on, with the two granularity rules, and the firmware-only
/// controls (enforcement, configuration lock, DMA stall) that the PSP model
/// uses. The host has no register for any of it.
/// </summary>
internal sealed class SnpControls
{
    public const int PageShift4K = 12;
    public const int PageShift2M = 21;

    private readonly RmpTable? _rmp;
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly RmpGranularity _rule;
    private readonly ILogger _logger;
    private readonly List<DmaStall> _stalls = [];

    public SnpControls(RmpTable? rmp, Scheduler scheduler, CostModel costs, RmpGranularity rule, ILogger logger)
    {
        _rmp = rmp;
        _scheduler = scheduler;
        _costs = costs;
        _rule = rule;
        _logger = logger;
    }

    /// <summary>True while firmware has SNP enforcement on: every DMA is checked against the RMP.</summary>
    public bool Enforced { get; private set; }

    /// <summary>True while firmware has locked the configuration registers.</summary>
    public bool ConfigLocked { get; private set; }

    /// <summary>Whether any stall may still hold DMA: the one test on the fast path.</summary>
    public bool AnyStall => _stalls.Count != 0;

    public void Enforce(bool on)
    {
        Enforced = on;
        ConfigLocked = on;
        Log.SnpEnforcement(_logger, on);
    }

    /// <summary>Holds DMA to [first, last] until <paramref name="untilNs"/>.</summary>
    public void Stall(ulong first, ulong last, long untilNs) => _stalls.Add(new DmaStall(first, last, untilNs));

    /// <summary>When a stall covering <paramref name="spa"/> ends, or null; ended stalls are forgotten.</summary>
    public long? StalledUntil(ulong spa)
    {
        long now = _scheduler.NowNs;
        _stalls.RemoveAll(s => s.UntilNs <= now);
        foreach (var s in _stalls)
            if (spa >= s.First && spa <= s.Last)
                return s.UntilNs;
        return null;
    }

    /// <summary>
    /// Checks a DMA to <paramref name="spa"/> through an I/O page of 2^<paramref name="ioPageShift"/>
    /// against the RMP. <paramref name="sizeRule"/> = false (passthrough) skips the granularity rule.
    /// </summary>
    public RmpCheckResult Check(ushort deviceId, ulong iova, ulong spa, int ioPageShift, bool sizeRule, ref long cost)
    {
        if (_rmp is null || !_rmp.Covers(spa))
            return RmpCheckResult.Allow(Math.Min(ioPageShift, PageShift2M));
        cost += _costs.IommuMemoryAccessNs;
        var entry = _rmp.ReadEffective(spa >> 12, out bool is2M);
        if (entry.Assigned)
            return Refuse(deviceId, iova, spa, RmpFaultFlags.NotHypervisorOwned);
        int rmpShift = is2M ? PageShift2M : PageShift4K;
        if (!sizeRule || _rule == RmpGranularity.DeriveSmallest)
            return RmpCheckResult.Allow(Math.Min(ioPageShift, rmpShift));
        // Today's rule: 2M and larger I/O pages need a 2M RMP entry, smaller ones a 4K entry.
        int required = ioPageShift >= PageShift2M ? PageShift2M : PageShift4K;
        return required == rmpShift
            ? RmpCheckResult.Allow(required)
            : Refuse(deviceId, iova, spa, RmpFaultFlags.SizeMismatch);
    }

    private RmpCheckResult Refuse(ushort deviceId, ulong iova, ulong spa, RmpFaultFlags flags)
    {
        Log.RmpRefused(_logger, deviceId, iova, spa, flags);
        return new RmpCheckResult(true, flags, 0);
    }
}

