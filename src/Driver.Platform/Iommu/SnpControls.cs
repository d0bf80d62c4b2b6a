using Driver.Hw.Sev;
using Driver.Platform.Snp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Iommu;

/// <summary>
/// SNP at the IOMMU: the RMP check on every DMA once firmware turns
/// enforcement on, by request kind and under the granularity rule in force,
/// and the firmware-only controls (enforcement, configuration lock, DMA stall,
/// the TDI bindings of SEV-TIO) that the PSP model uses. The host has no
/// register for any of it. The check is the named rules of
/// <see cref="RmpRunChecks"/> applied to the governing RMP entry, so the
/// IOMMU, the CPU instructions and the firmware speak of one set of rules.
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

    // The ASID each DeviceID's trusted requests carry; 0 = no TDI bound. Indexed, not hashed: read per trusted DMA.
    private readonly ushort[] _tdiAsid = new ushort[1 << 16];

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

    /// <summary>
    /// Test-only: skips the RMP check (every request allowed) so that the monitor
    /// tests can show the invariant monitor catches DMA the check should have refused.
    /// Nothing outside the tests sets it; no hardware has such a switch.
    /// </summary>
    internal bool BreakRmpCheckForTests { get; set; }

    public void Enforce(bool on)
    {
        Enforced = on;
        ConfigLocked = on;
        Log.SnpEnforcement(_logger, on);
    }

    /// <summary>TIO_TDI_BIND: the trusted requests of <paramref name="deviceId"/> now carry <paramref name="asid"/>.</summary>
    public void BindTdi(ushort deviceId, ushort asid) => _tdiAsid[deviceId] = asid;

    /// <summary>TIO_TDI_UNBIND: the device's trusted requests are refused again.</summary>
    public void UnbindTdi(ushort deviceId) => _tdiAsid[deviceId] = 0;

    /// <summary>SNP shutdown: no TDI stays bound.</summary>
    public void UnbindAllTdis() => Array.Clear(_tdiAsid);

    /// <summary>The ASID a trusted request of <paramref name="deviceId"/> carries, 0 when no TDI is bound.</summary>
    public ushort BoundAsid(ushort deviceId) => _tdiAsid[deviceId];

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
    /// against the RMP. <paramref name="asid"/> = 0: an untrusted request; otherwise a trusted one of the
    /// guest of that ASID, whose guest address is <paramref name="iova"/>. <paramref name="sizeRule"/> =
    /// false (passthrough) skips the granularity rule.
    /// </summary>
    public RmpCheckResult Check(ushort deviceId, ulong iova, ulong spa, int ioPageShift, bool sizeRule, ref long cost, ushort asid = 0)
    {
        if (_rmp is null || !_rmp.Covers(spa) || BreakRmpCheckForTests)
            return RmpCheckResult.Allow(Math.Min(ioPageShift, PageShift2M));
        cost += _costs.IommuMemoryAccessNs;
        var entry = _rmp.ReadEffective(spa >> PageShift4K, out bool is2M);
        var flags = RmpFaultFlags.None;
        if (asid == 0)
        {
            if (!RmpRunChecks.HypervisorOwned(entry))
                return Refuse(deviceId, iova, spa, RmpFaultFlags.NotHypervisorOwned);
        }
        else
        {
            flags = TrustedFlags(entry, is2M, spa, iova, asid);
        }
        if (sizeRule && _rule == RmpGranularity.AmdToday && !RmpRunChecks.SizeAgreesToday(is2M, ioPageShift))
            flags |= RmpFaultFlags.SizeMismatch;
        return flags == RmpFaultFlags.None
            ? RmpCheckResult.Allow(RmpRunChecks.CheckedShift(is2M, ioPageShift))
            : Refuse(deviceId, iova, spa, flags);
    }

    /// <summary>A trusted request from a device without a bound TDI: refused before any walk.</summary>
    public RmpCheckResult RefuseUnbound(ushort deviceId, ulong iova) => Refuse(deviceId, iova, 0, RmpFaultFlags.UnboundTdi);

    private static RmpFaultFlags TrustedFlags(RmpEntry entry, bool is2M, ulong spa, ulong gpa, ushort asid)
    {
        var flags = RmpFaultFlags.None;
        if (!RmpRunChecks.OwnedByGuest(entry, asid))
            return RmpFaultFlags.AsidMismatch;
        if (!RmpRunChecks.GuestValidated(entry))
            flags |= RmpFaultFlags.NotValidated;
        if (!RmpRunChecks.MapsGuestPage(entry, is2M, spa, gpa))
            flags |= RmpFaultFlags.GpaMismatch;
        return flags;
    }

    private RmpCheckResult Refuse(ushort deviceId, ulong iova, ulong spa, RmpFaultFlags flags)
    {
        Log.RmpRefused(_logger, deviceId, iova, spa, flags);
        return new RmpCheckResult(true, flags, 0);
    }
}
