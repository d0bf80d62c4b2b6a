using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;
using Driver.Platform.Snp;
using Driver.Platform.Time;

namespace Driver.Platform.Psp;

/// <summary>
/// The SNP firmware behind the mailbox: platform state, the RMP transitions
/// only firmware may make, and control of the IOMMU's SNP mode. Status codes
/// follow the SEV firmware ABI; a malformed buffer gets a status, never an
/// exception, and leaves the state unchanged.
/// </summary>
internal sealed class SnpFirmware
{
    private const ulong Page2M = 0x200000;

    private readonly PhysicalMemory _memory;
    private readonly RmpTable _rmp;
    private readonly AmdIommu _iommu;
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly PspConfig _config;
    private readonly HashSet<ulong> _iommuPages = [];
    private bool _initialized;
    private bool _rmpInitialized;
    private bool _dfFlushRequired;
    private uint _guests;

    public SnpFirmware(PhysicalMemory memory, RmpTable rmp, AmdIommu iommu, Scheduler scheduler, CostModel costs, PspConfig config)
    {
        _memory = memory;
        _rmp = rmp;
        _iommu = iommu;
        _scheduler = scheduler;
        _costs = costs;
        _config = config;
    }

    public bool Initialized => _initialized;

    public FirmwareOutcome Execute(SevCommandId command, ulong buffer)
    {
        if (buffer >= IPhysicalMemory.Limit - 0x1000)
            return Done(SevStatus.InvalidAddress);
        return command switch
        {
            SevCommandId.SnpInitEx => InitEx(buffer),
            SevCommandId.SnpShutdownEx => ShutdownEx(buffer),
            SevCommandId.SnpPlatformStatus => PlatformStatus(buffer),
            SevCommandId.SnpDfFlush => DfFlush(),
            SevCommandId.SnpPageReclaim => PageReclaim(buffer),
            SevCommandId.SnpPageUnsmash => PageUnsmash(buffer),
            SevCommandId.SnpGctxCreate => GctxCreate(buffer),
            ProposedCommands.IopdeSmash when _config.ProposedIopdeSmash => IopdeSmash(buffer),
            _ => Done(SevStatus.InvalidCommand),
        };
    }

    private FirmwareOutcome Done(SevStatus status) => new(status, _costs.PspCommandNs);

    private ulong[] ReadWords(ulong pa, int count)
    {
        var words = new ulong[count];
        for (int i = 0; i < count; i++)
            words[i] = _memory.ReadU64(pa + (ulong)i * 8);
        return words;
    }

    private FirmwareOutcome InitEx(ulong buffer)
    {
        if ((buffer & 7) != 0)
            return Done(SevStatus.InvalidAddress);
        var request = new SnpInitExBuffer(ReadWords(buffer, SnpInitExBuffer.Words));
        if (!request.IsValid || (request.ListPaddrEn && (request.ListPaddr == 0 || (request.ListPaddr & 0xFFF) != 0)))
            return Done(SevStatus.InvalidParam);
        if (_initialized)
            return Done(SevStatus.InvalidPlatformState);
        if (!_iommu.ReadyForSnp)
            return Done(SevStatus.HwsevRetPlatform);
        if (!request.InitRmp && !_rmpInitialized)
            return Done(SevStatus.RmpInitRequired);
        var pages = _iommu.EventLogPages().Concat(_iommu.CompletionWaitPages()).Where(_rmp.Covers).ToList();
        foreach (var page in pages)
            if (_rmp.ReadEffective(page >> 12, out bool is2M).Assigned || is2M)
                return Done(SevStatus.InvalidPageState);
        foreach (var page in pages)
        {
            _rmp.Write(page >> 12, RmpStates.Firmware());
            _rmp.NotifyChanged(page, page + 0xFFF);
            _iommuPages.Add(page);
        }
        _iommu.EnableSnp();
        _initialized = true;
        _rmpInitialized = true;
        return new FirmwareOutcome(SevStatus.Success, _costs.PspInitNs);
    }

    private FirmwareOutcome ShutdownEx(ulong buffer)
    {
        if ((buffer & 7) != 0)
            return Done(SevStatus.InvalidAddress);
        var request = new SnpShutdownExBuffer(_memory.ReadU64(buffer));
        if (!request.IsValid)
            return Done(SevStatus.InvalidParam);
        if (request.Length != 8)
            return Done(SevStatus.InvalidLen);
        if (!_initialized)
            return Done(SevStatus.Success);
        if (_dfFlushRequired)
            return Done(SevStatus.DfflushRequired);
        _initialized = false;
        if (request.IommuSnpShutdown)
        {
            foreach (var page in _iommuPages)
            {
                _rmp.Write(page >> 12, RmpStates.Reclaim());
                _rmp.NotifyChanged(page, page + 0xFFF);
            }
            _iommuPages.Clear();
            _iommu.DisableSnp();
        }
        return new FirmwareOutcome(SevStatus.Success, _costs.PspInitNs);
    }

    private FirmwareOutcome PlatformStatus(ulong buffer)
    {
        ulong page = _memory.ReadU64(buffer);
        if ((page & 0xFFF) != 0 || page >= IPhysicalMemory.Limit)
            return Done(SevStatus.InvalidAddress);
        // Once SNP is up firmware writes only to pages it owns.
        if (_initialized && (!_rmp.Covers(page) || RmpStates.Classify(_rmp.ReadEffective(page >> 12, out _)) != RmpState.Firmware))
            return Done(SevStatus.InvalidPageState);
        var status = default(SnpPlatformStatusBuffer).WithApiMajor(1).WithApiMinor(55)
            .WithState((byte)(_initialized ? 1 : 0)).WithIsRmpInitialized(_rmpInitialized)
            .WithBuildId(1).WithGuestCount(_guests);
        for (int i = 0; i < SnpPlatformStatusBuffer.Words; i++)
            _memory.WriteU64(page + (ulong)i * 8, status.GetWord(i));
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome DfFlush()
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        _dfFlushRequired = false;
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome PageReclaim(ulong buffer)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new SnpPageReclaimBuffer(_memory.ReadU64(buffer));
        ulong spa = request.Address;
        if (!_rmp.Covers(spa) || (request.PageSize2M && (spa & (Page2M - 1)) != 0))
            return Done(SevStatus.InvalidAddress);
        var entry = _rmp.ReadEffective(spa >> 12, out bool is2M);
        if (is2M != request.PageSize2M)
            return Done(SevStatus.InvalidPageSize);
        if (!entry.Immutable)
            return Done(SevStatus.Success);
        if (_iommuPages.Contains(spa))
            return Done(SevStatus.InvalidPageState);
        RmpEntry next;
        switch (RmpStates.Classify(entry))
        {
            case RmpState.Firmware:
                next = RmpStates.Reclaim();
                break;
            case RmpState.Context:
                next = RmpStates.Reclaim();
                _guests--;
                _dfFlushRequired = true;
                break;
            case RmpState.PreGuest:
                next = entry.WithImmutable(false);
                break;
            default:
                return Done(SevStatus.InvalidPageState);
        }
        if (is2M)
        {
            ulong head = spa >> 12;
            for (ulong i = 0; i < RmpTable.PagesPer2M; i++)
                _rmp.Write(head + i, next.WithPageSize(true).WithGpa(next.Assigned && next.Asid != 0 ? entry.Gpa + (i << 12) : 0));
            _rmp.NotifyChanged(spa, spa + Page2M - 1);
        }
        else
        {
            _rmp.Write(spa >> 12, next);
            _rmp.NotifyChanged(spa, spa + 0xFFF);
        }
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome PageUnsmash(ulong buffer)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new SnpPageUnsmashBuffer(_memory.ReadU64(buffer));
        ulong spa = request.Address;
        if (!_rmp.Covers(spa) || (spa & (Page2M - 1)) != 0)
            return Done(SevStatus.InvalidAddress);
        ulong head = spa >> 12;
        var first = _rmp.Read(head);
        if (first.PageSize)
            return Done(SevStatus.InvalidPageSize);
        if (first.Assigned && (first.Gpa & (Page2M - 1)) != 0)
            return Done(SevStatus.InvalidPageState);
        for (ulong i = 1; i < RmpTable.PagesPer2M; i++)
        {
            var e = _rmp.Read(head + i);
            bool same = e.Assigned == first.Assigned && e.Immutable == first.Immutable && e.Validated == first.Validated
                && e.Vmsa == first.Vmsa && e.Asid == first.Asid && e.VmplPermissions == first.VmplPermissions
                && (!first.Assigned || e.Gpa == first.Gpa + (i << 12));
            if (!same)
                return Done(SevStatus.InvalidPageState);
        }
        _rmp.Merge(head);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome GctxCreate(ulong buffer)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        ulong page = new SnpGctxCreateBuffer(_memory.ReadU64(buffer)).GctxPaddr;
        if (!_rmp.Covers(page))
            return Done(SevStatus.InvalidAddress);
        var entry = _rmp.ReadEffective(page >> 12, out bool is2M);
        if (is2M)
            return Done(SevStatus.InvalidPageSize);
        if (RmpStates.Classify(entry) != RmpState.Firmware || _iommuPages.Contains(page))
            return Done(SevStatus.InvalidPageState);
        _memory.Fill(page, 0x1000, 0);
        _rmp.Write(page >> 12, RmpStates.Context());
        _rmp.NotifyChanged(page, page + 0xFFF);
        _guests++;
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome IopdeSmash(ulong buffer)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new ProposedIopdeSmashBuffer(ReadWords(buffer, ProposedIopdeSmashBuffer.Words));
        if (!request.IsValid)
            return Done(SevStatus.InvalidParam);
        var old = new AmdV1Pte(_memory.ReadU64(request.IopdeAddress));
        ulong spa = old.Address;
        if (!old.Present || old.NextLevel != 0 || (spa & (Page2M - 1)) != 0)
            return Done(SevStatus.InvalidParam);
        for (ulong i = 0; i < RmpTable.PagesPer2M; i++)
        {
            var pte = new AmdV1Pte(_memory.ReadU64(request.PteTableAddress + i * 8));
            if (!pte.Present || pte.NextLevel != 0 || pte.Address != spa + (i << 12)
                || pte.IoRead != old.IoRead || pte.IoWrite != old.IoWrite)
                return Done(SevStatus.InvalidParam);
        }
        if (!_rmp.Covers(spa))
            return Done(SevStatus.InvalidAddress);
        if (!_rmp.Read(spa >> 12).PageSize)
            return Done(SevStatus.InvalidPageSize);
        long stall = _config.IopdeSmashStallNs;
        _iommu.Stall(spa, spa + Page2M - 1, _scheduler.NowNs + stall);
        var replacement = old.WithNextLevel(1).WithAddress(request.PteTableAddress);
        return new FirmwareOutcome(SevStatus.Success, stall, () =>
        {
            _memory.WriteU64(request.IopdeAddress, replacement.Raw);
            _rmp.Split(spa >> 12);
        });
    }
}
