using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Psp;

/// <summary>
/// The host's RMP helpers of Linux's arch/x86/virt/svm/sev.c over the CPU's RMPUPDATE and PSMASH:
/// rmp_make_private, rmp_make_shared, psmash, and snp_leak_pages for pages that can no longer be
/// given back. Linux turns every failed RMPUPDATE into EFAULT after retrying OVERLAP; the raw
/// code is given out beside the errno so a caller (and a test) can tell why.
/// </summary>
public sealed class SnpRmp
{
    private const int PageShift = 12;
    private const ulong Size2M = 1UL << 21;

    private readonly ISnpCpu _cpu;
    private readonly ILogger _logger;
    private readonly int _rmpUpdateRetries;
    private readonly int _psmashRetries;
    private readonly HashSet<ulong> _leaked = [];

    public SnpRmp(ISnpCpu cpu, SevDeviceConfig? config = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        _cpu = cpu;
        config ??= new SevDeviceConfig();
        _rmpUpdateRetries = config.RmpUpdateRetries;
        _psmashRetries = config.PsmashRetries;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SnpRmp>();
    }

    /// <summary>Pages leaked on purpose since boot (Linux snp_nr_leaked_pages).</summary>
    public long LeakedPages => _leaked.Count;

    /// <summary>Whether the 4 KiB page at <paramref name="pa"/> was leaked (it must never be freed).</summary>
    public bool IsLeaked(ulong pa) => _leaked.Contains(pa & ~0xFFFUL);

    /// <summary>
    /// rmp_make_private: assigns the page at <paramref name="spa"/> to <paramref name="asid"/> at
    /// <paramref name="gpa"/> (ASID 0 and immutable: a firmware page). EFAULT when RMPUPDATE refuses.
    /// </summary>
    public Errno RmpMakePrivate(ulong spa, ulong gpa, RmpPageLevel level, ushort asid, bool immutable, out RmpUpdateResult result) =>
        RmpUpdate(spa, new RmpUpdateArgs(gpa, Assigned: true, level == RmpPageLevel.Level2M, immutable, asid), out result);

    /// <summary>rmp_make_shared: gives the page back to the hypervisor. EFAULT when RMPUPDATE refuses.</summary>
    public Errno RmpMakeShared(ulong spa, RmpPageLevel level, out RmpUpdateResult result) =>
        RmpUpdate(spa, new RmpUpdateArgs(0, Assigned: false, level == RmpPageLevel.Level2M, Immutable: false, 0), out result);

    private Errno RmpUpdate(ulong spa, RmpUpdateArgs args, out RmpUpdateResult result)
    {
        // OVERLAP means another update of the same 2M range is in flight: Linux retries it.
        int attempt = 0;
        do
            result = _cpu.Rmpupdate(spa, args);
        while (result == RmpUpdateResult.Overlap && ++attempt < _rmpUpdateRetries);
        if (result == RmpUpdateResult.Success)
            return Errno.Ok;
        Log.RmpupdateFailed(_logger, spa, args.PageSize2M ? RmpPageLevel.Level2M : RmpPageLevel.Level4K, args.Asid, args.Assigned, result);
        return Errno.EFAULT;
    }

    /// <summary>
    /// PSMASH of the 2 MiB RMP entry at <paramref name="spa"/>, retried while it is INUSE (as KVM's
    /// snp_rmptable_psmash does). EINVAL for an address that is not 2 MiB aligned, outside the RMP or not
    /// a 2 MiB entry; EPERM for an immutable entry; EBUSY when the entry stayed locked.
    /// </summary>
    public Errno Psmash(ulong spa, out PsmashResult result)
    {
        if ((spa & (Size2M - 1)) != 0)
        {
            result = PsmashResult.Input;
            Log.PsmashFailed(_logger, spa, result);
            return Errno.EINVAL;
        }
        int attempt = 0;
        do
            result = _cpu.Psmash(spa);
        while (result == PsmashResult.InUse && ++attempt < _psmashRetries);
        if (result == PsmashResult.Success)
            return Errno.Ok;
        Log.PsmashFailed(_logger, spa, result);
        return result switch
        {
            PsmashResult.Permission => Errno.EPERM,
            PsmashResult.InUse => Errno.EBUSY,
            _ => Errno.EINVAL,
        };
    }

    /// <summary>
    /// snp_leak_pages: <paramref name="npages"/> pages from <paramref name="pa"/> are in a state the host
    /// cannot use (firmware or guest owned). They are remembered and counted, and never freed.
    /// </summary>
    public void SnpLeakPages(ulong pa, int npages)
    {
        if (npages <= 0)
            return;
        ulong first = pa & ~0xFFFUL;
        for (int i = 0; i < npages; i++)
            _leaked.Add(first + ((ulong)i << PageShift));
        Log.LeakingPages(_logger, first >> PageShift, (first >> PageShift) + (ulong)npages - 1, _leaked.Count);
    }
}
