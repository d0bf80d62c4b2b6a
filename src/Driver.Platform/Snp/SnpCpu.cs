using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Snp;

/// <summary>
/// RMPUPDATE and PSMASH as the CPU executes them on the RMP in memory. Each is
/// a kernel-visible hardware access (DMA may interleave before it) and, as on
/// hardware, flushes the IOMMU's cached translations of the pages it changes.
/// Any operand gets a return code, never an exception; a refusal is logged with its reason.
/// </summary>
public sealed class SnpCpu : ISnpCpu
{
    // The ASID field is 10 bits wide.
    private const ushort MaxAsid = 0x3FF;

    private readonly RmpTable _rmp;
    private readonly Scheduler _scheduler;
    private readonly long _costNs;
    private readonly ILogger _logger;

    public SnpCpu(RmpTable rmp, Scheduler scheduler, CostModel costs, ILoggerFactory? loggerFactory = null)
    {
        _rmp = rmp;
        _scheduler = scheduler;
        _costNs = costs.RmpInstructionNs;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SnpCpu>();
    }

    public RmpUpdateResult Rmpupdate(ulong spa, RmpUpdateArgs args)
    {
        _scheduler.HardwareAccess(_costNs);
        var result = Update(spa, args, out string reason);
        if (result == RmpUpdateResult.Success)
            Log.Rmpupdated(_logger, spa, args.PageSize2M, args.Asid, args.Assigned);
        else
            Log.RmpupdateRefused(_logger, result is RmpUpdateResult.Overlap or RmpUpdateResult.InUse ? LogLevel.Debug : LogLevel.Warning,
                spa, args.PageSize2M, result, reason);
        return result;
    }

    public bool Rmpread(ulong spa, out RmpEntry entry, out bool is2M)
    {
        _scheduler.HardwareAccess(_costNs);
        if (!_rmp.Covers(spa))
        {
            entry = default;
            is2M = false;
            return false;
        }
        entry = _rmp.ReadEffective(spa >> SnpPageSize.Shift4K, out is2M);
        return true;
    }

    public PsmashResult Psmash(ulong spa)
    {
        _scheduler.HardwareAccess(_costNs);
        var result = Smash(spa, out string reason);
        if (result == PsmashResult.Success)
            Log.Psmashed(_logger, spa);
        else
            Log.PsmashRefused(_logger, result == PsmashResult.InUse ? LogLevel.Debug : LogLevel.Warning, spa, result, reason);
        return result;
    }

    private RmpUpdateResult Update(ulong spa, RmpUpdateArgs args, out string reason)
    {
        ulong size = args.PageSize2M ? SnpPageSize.Size2M : SnpPageSize.Size4K;
        reason = !SnpPageSize.IsAligned(spa, size) ? "spa not aligned to the page size"
            : !_rmp.Covers(spa) ? "spa beyond the RMP"
            : args.Asid != 0 && !args.Assigned ? "an asid for an unassigned page"
            : !SnpPageSize.IsAligned(args.Gpa, size) ? "gpa not aligned to the page size"
            : !RmpTable.GpaFits(args.Gpa) ? "gpa beyond the entry's field"
            : args.Asid > MaxAsid ? "asid beyond the entry's field"
            : "";
        if (reason.Length != 0)
            return RmpUpdateResult.Input;
        ulong pfn = spa >> SnpPageSize.Shift4K;
        ulong headPfn = SnpPageSize.HeadPfn(pfn);
        var current = _rmp.ReadEffective(pfn, out bool in2M);
        if (current.Lock)
            return Refuse(RmpUpdateResult.InUse, "entry locked", out reason);
        if (current.Immutable)
            return Refuse(RmpUpdateResult.Permission, "entry immutable", out reason);
        var entry = default(RmpEntry).WithAssigned(args.Assigned).WithImmutable(args.Immutable)
            .WithAsid(args.Asid).WithGpa(args.Assigned ? args.Gpa : 0);
        if (!args.PageSize2M)
        {
            if (in2M)
                return Refuse(RmpUpdateResult.Overlap, "4K update inside a 2M entry", out reason);
            _rmp.Write(pfn, entry);
            _rmp.NotifyChanged(spa, spa + SnpPageSize.Size4K - 1);
            return RmpUpdateResult.Success;
        }
        // Over a 2M entry the head spoke for the run; over 4K entries every one must allow it.
        if (!in2M && _rmp.AnyImmutable(headPfn))
            return Refuse(RmpUpdateResult.Permission, "an entry of the 2M run is immutable", out reason);
        if (!in2M && !_rmp.AllShareHeadPageState(headPfn))
            return Refuse(RmpUpdateResult.Overlap, "the 4K entries of the run differ", out reason);
        _rmp.WriteRun(headPfn, entry, as2M: true);
        return RmpUpdateResult.Success;
    }

    private PsmashResult Smash(ulong spa, out string reason)
    {
        reason = "";
        if (!_rmp.Covers(spa))
            return Refuse(PsmashResult.BadAddress, "spa beyond the RMP", out reason);
        if (!SnpPageSize.IsAligned(spa, SnpPageSize.Size2M))
            return Refuse(PsmashResult.Input, "spa not 2M aligned", out reason);
        ulong headPfn = spa >> SnpPageSize.Shift4K;
        if (!_rmp.IsOne2MEntry(headPfn))
            return Refuse(PsmashResult.Input, "not a 2M entry", out reason);
        var head = _rmp.Read(headPfn);
        if (head.Lock)
            return Refuse(PsmashResult.InUse, "entry locked", out reason);
        if (head.Immutable)
            return Refuse(PsmashResult.Permission, "entry immutable", out reason);
        _rmp.Split(headPfn);
        return PsmashResult.Success;
    }

    private static T Refuse<T>(T result, string why, out string reason)
    {
        reason = why;
        return result;
    }
}
