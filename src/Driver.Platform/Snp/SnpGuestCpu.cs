using Driver.Hw.Interfaces;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Snp;

/// <summary>
/// PVALIDATE as the CPU executes it for a guest. Order of the checks, as the
/// instruction makes them: the alignment (FAIL_INPUT), the RMP check that the
/// page is this guest's at this address (a nested page fault otherwise), the
/// sizes (FAIL_SIZEMISMATCH for 2 MiB over 4 KiB entries, a nested page fault
/// for 4 KiB inside a 2 MiB entry), then no change if the page already has the
/// state (CF = 1). A change flushes the IOMMU's cached translations of the page.
/// </summary>
public sealed class SnpGuestCpu : ISnpGuestCpu
{
    private readonly RmpTable _rmp;
    private readonly Scheduler _scheduler;
    private readonly long _costNs;
    private readonly ILogger _logger;

    public SnpGuestCpu(RmpTable rmp, Scheduler scheduler, CostModel costs, ushort asid, ILoggerFactory? loggerFactory = null)
    {
        _rmp = rmp;
        _scheduler = scheduler;
        _costNs = costs.RmpInstructionNs;
        Asid = asid;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SnpGuestCpu>();
    }

    public ushort Asid { get; }

    public PvalidateResult Pvalidate(ulong gpa, ulong spa, bool pageSize2M, bool validate)
    {
        _scheduler.HardwareAccess(_costNs);
        var result = Validate(gpa, spa, pageSize2M, validate, out string reason);
        if (result == PvalidateResult.Success)
            Log.Pvalidated(_logger, Asid, gpa, spa, pageSize2M, validate);
        else
            Log.PvalidateRefused(_logger, result == PvalidateResult.NoUpdate ? LogLevel.Debug : LogLevel.Warning, Asid, gpa, spa, pageSize2M, result, reason);
        return result;
    }

    private PvalidateResult Validate(ulong gpa, ulong spa, bool pageSize2M, bool validate, out string reason)
    {
        ulong size = pageSize2M ? SnpPageSize.Size2M : SnpPageSize.Size4K;
        reason = "";
        if (!SnpPageSize.IsAligned(gpa, size) || !SnpPageSize.IsAligned(spa, size))
            return Refuse(PvalidateResult.FailInput, "address not aligned to the page size", out reason);
        if (Asid == 0 || !_rmp.Covers(spa))
            return Refuse(PvalidateResult.NestedPageFault, Asid == 0 ? "no guest (ASID 0)" : "spa beyond the RMP", out reason);
        ulong pfn = spa >> SnpPageSize.Shift4K;
        var entry = _rmp.ReadEffective(pfn, out bool is2M);
        if (!RmpRunChecks.OwnedByGuest(entry, Asid) || entry.Immutable || !RmpRunChecks.MapsGuestPage(entry, is2M, spa, gpa))
            return Refuse(PvalidateResult.NestedPageFault, "not this guest's page at this address", out reason);
        if (pageSize2M && !is2M)
            return Refuse(PvalidateResult.FailSizeMismatch, "2M validation over 4K entries", out reason);
        if (!pageSize2M && is2M)
            return Refuse(PvalidateResult.NestedPageFault, "4K validation inside a 2M entry", out reason);
        if (RmpRunChecks.GuestValidated(entry) == validate)
            return Refuse(PvalidateResult.NoUpdate, "already in that state", out reason);
        if (pageSize2M)
        {
            _rmp.WriteRun(pfn, entry.WithValidated(validate), as2M: true);
        }
        else
        {
            _rmp.Write(pfn, entry.WithValidated(validate));
            _rmp.NotifyChanged(spa, spa + SnpPageSize.Size4K - 1);
        }
        return PvalidateResult.Success;
    }

    private static PvalidateResult Refuse(PvalidateResult result, string why, out string reason)
    {
        reason = why;
        return result;
    }
}
