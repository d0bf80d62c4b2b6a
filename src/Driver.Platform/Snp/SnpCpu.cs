using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Time;

namespace Driver.Platform.Snp;

/// <summary>
/// RMPUPDATE and PSMASH as the CPU executes them on the RMP in memory. Each is
/// a kernel-visible hardware access (DMA may interleave before it) and, as on
/// hardware, flushes the IOMMU's cached translations of the pages it changes.
/// </summary>
public sealed class SnpCpu : ISnpCpu
{
    private const ulong Page2M = 0x200000;

    private readonly RmpTable _rmp;
    private readonly Scheduler _scheduler;
    private readonly long _costNs;

    public SnpCpu(RmpTable rmp, Scheduler scheduler, CostModel costs)
    {
        _rmp = rmp;
        _scheduler = scheduler;
        _costNs = costs.RmpInstructionNs;
    }

    public RmpUpdateResult Rmpupdate(ulong spa, RmpUpdateArgs args)
    {
        _scheduler.HardwareAccess(_costNs);
        ulong size = args.PageSize2M ? Page2M : 0x1000;
        if ((spa & (size - 1)) != 0 || !_rmp.Covers(spa) || (args.Asid != 0 && !args.Assigned)
            || (args.Gpa & (size - 1)) != 0 || args.Asid > 0x3FF)
            return RmpUpdateResult.Input;
        ulong pfn = spa >> 12;
        ulong headPfn = pfn & ~(ulong)(RmpTable.PagesPer2M - 1);
        var head = _rmp.Read(headPfn);
        var current = head.PageSize ? head : _rmp.Read(pfn);
        if (current.Lock)
            return RmpUpdateResult.InUse;
        if (current.Immutable)
            return RmpUpdateResult.Permission;
        var entry = default(RmpEntry).WithAssigned(args.Assigned).WithImmutable(args.Immutable)
            .WithAsid(args.Asid).WithGpa(args.Assigned ? args.Gpa : 0);
        if (!args.PageSize2M)
        {
            if (head.PageSize)
                return RmpUpdateResult.Overlap;
            _rmp.Write(pfn, entry);
            _rmp.NotifyChanged(spa, spa + 0xFFF);
            return RmpUpdateResult.Success;
        }
        if (!head.PageSize && !UniformBeneath(headPfn, out bool anyImmutable))
            return anyImmutable ? RmpUpdateResult.Permission : RmpUpdateResult.Overlap;
        for (ulong i = 0; i < RmpTable.PagesPer2M; i++)
            _rmp.Write(headPfn + i, entry.WithPageSize(true).WithGpa(args.Assigned ? args.Gpa + (i << 12) : 0));
        _rmp.NotifyChanged(spa, spa + Page2M - 1);
        return RmpUpdateResult.Success;
    }

    public PsmashResult Psmash(ulong spa)
    {
        _scheduler.HardwareAccess(_costNs);
        if (!_rmp.Covers(spa))
            return PsmashResult.BadAddress;
        if ((spa & (Page2M - 1)) != 0)
            return PsmashResult.Input;
        ulong headPfn = spa >> 12;
        var head = _rmp.Read(headPfn);
        if (!head.PageSize)
            return PsmashResult.Input;
        if (head.Lock)
            return PsmashResult.InUse;
        if (head.Immutable)
            return PsmashResult.Permission;
        _rmp.Split(headPfn);
        return PsmashResult.Success;
    }

    // A 2M update may only fold 4K entries that are all in one state.
    private bool UniformBeneath(ulong headPfn, out bool anyImmutable)
    {
        var first = _rmp.Read(headPfn);
        anyImmutable = first.Immutable;
        bool uniform = true;
        for (ulong i = 1; i < RmpTable.PagesPer2M; i++)
        {
            var e = _rmp.Read(headPfn + i);
            anyImmutable |= e.Immutable;
            if (e.Assigned != first.Assigned || e.Asid != first.Asid || e.Validated != first.Validated || e.Vmsa != first.Vmsa)
                uniform = false;
        }
        return uniform;
    }
}
