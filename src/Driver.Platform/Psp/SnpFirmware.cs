using Driver.Hw.AmdIommu;
using Driver.Hw.Sev;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;
using Driver.Platform.Snp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Psp;

/// <summary>
/// The SNP firmware behind the mailbox: platform state, the RMP transitions
/// only firmware may make, and control of the IOMMU's SNP mode. Status codes
/// follow the SEV firmware ABI. Every command's buffer is checked once, in
/// <see cref="Execute"/>, before the command sees its words: a misaligned
/// buffer or one that runs past 2^52 gets INVALID_ADDRESS, an unknown command
/// INVALID_COMMAND; the commands then answer INVALID_PARAM for reserved bits,
/// INVALID_LEN for a wrong length field and INVALID_ADDRESS for a bad address
/// inside the buffer. No request throws, and a refused one changes nothing.
/// </summary>
internal sealed partial class SnpFirmware
{
    private const ulong Page4K = SnpPageSize.Size4K;
    private const ulong Page2M = SnpPageSize.Size2M;

    // The buffers of 64 bits: one word (PLATFORM_STATUS's is the address of its output page).
    private const int OneWord = 1;

    private readonly PhysicalMemory _memory;
    private readonly RmpTable _rmp;
    private readonly AmdIommu _iommu;
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly PspConfig _config;
    private readonly ILogger _logger;
    private readonly Dictionary<SevCommandId, FirmwareCommand> _commands;
    private readonly HashSet<ulong> _iommuPages = [];
    private bool _initialized;
    private bool _rmpInitialized;
    private bool _dfFlushRequired;
    private readonly Dictionary<ulong, GuestContext> _guestContexts = [];
    private readonly Dictionary<ulong, TdiContext> _tdis = [];

    // ASIDs a decommissioned guest used: reusable only after SNP_DF_FLUSH.
    private readonly HashSet<ushort> _asidsToFlush = [];
    private bool _tioEnabled;
    private bool _tioInitialized;

    public SnpFirmware(PhysicalMemory memory, RmpTable rmp, AmdIommu iommu, Scheduler scheduler, CostModel costs, PspConfig config)
    {
        _memory = memory;
        _rmp = rmp;
        _iommu = iommu;
        _scheduler = scheduler;
        _costs = costs;
        _config = config;
        _logger = config.LoggerFactory.CreateLogger<SnpFirmware>();
        _commands = new()
        {
            [SevCommandId.SnpInitEx] = new(SnpInitExBuffer.Words, InitEx),
            [SevCommandId.SnpShutdownEx] = new(OneWord, ShutdownEx),
            [SevCommandId.SnpPlatformStatus] = new(OneWord, PlatformStatus),
            [SevCommandId.SnpDfFlush] = new(0, _ => DfFlush()),
            [SevCommandId.SnpPageReclaim] = new(OneWord, PageReclaim),
            [SevCommandId.SnpPageUnsmash] = new(OneWord, PageUnsmash),
            [SevCommandId.SnpGctxCreate] = new(OneWord, GctxCreate),
            [SevCommandId.SnpActivate] = new(SnpActivateBuffer.Words, Activate),
            [SevCommandId.SnpDecommission] = new(OneWord, Decommission),
            [SevCommandId.TioInit] = new(OneWord, TioInit),
            [SevCommandId.TioTdiCreate] = new(TioTdiCreateBuffer.Words, TdiCreate),
            [SevCommandId.TioTdiBind] = new(TioTdiBindBuffer.Words, TdiBind),
            [SevCommandId.TioTdiUnbind] = new(TioTdiUnbindBuffer.Words, TdiUnbind),
            [SevCommandId.TioTdiReclaim] = new(TioTdiReclaimBuffer.Words, TdiReclaim),
        };
        if (config.ProposedIopdeSmash)
            _commands[ProposedCommands.IopdeSmash] = new(ProposedIopdeSmashBuffer.Words, IopdeSmash);
    }

    /// <summary>Where the mailbox in front of this firmware logs.</summary>
    public ILoggerFactory LoggerFactory => _config.LoggerFactory;

    public FirmwareOutcome Execute(SevCommandId command, ulong buffer)
    {
        if (!_commands.TryGetValue(command, out var c))
            return Done(SevStatus.InvalidCommand);
        if (c.BufferWords == 0)
            return c.Run([]);
        var status = FirmwareBuffer.Check(buffer, (ulong)c.BufferWords * sizeof(ulong));
        if (status != SevStatus.Success)
            return Done(status);
        return c.Run(FirmwareBuffer.Read(_memory, buffer, c.BufferWords));
    }

    private FirmwareOutcome Done(SevStatus status) => new(status, _costs.PspCommandNs);

    private FirmwareOutcome InitEx(ulong[] words)
    {
        var request = new SnpInitExBuffer(words);
        if (!request.IsValid || (request.ListPaddrEn && (request.ListPaddr == 0 || !SnpPageSize.IsAligned(request.ListPaddr, Page4K))))
            return Done(SevStatus.InvalidParam);
        if (request.ListPaddrEn && !FirmwareBuffer.InPhysicalSpace(request.ListPaddr, Page4K))
            return Done(SevStatus.InvalidAddress);
        if (_initialized)
            return Done(SevStatus.InvalidPlatformState);
        if (!_iommu.ReadyForSnp)
            return Done(SevStatus.HwsevRetPlatform);
        if (!request.InitRmp && !_rmpInitialized)
            return Done(SevStatus.RmpInitRequired);
        var pages = _iommu.EventLogPages().Concat(_iommu.CompletionWaitPages()).Where(_rmp.Covers).ToList();
        foreach (var page in pages)
            if (_rmp.ReadEffective(page >> SnpPageSize.Shift4K, out bool is2M).Assigned || is2M)
                return Done(SevStatus.InvalidPageState);
        foreach (var page in pages)
        {
            Write4K(page, RmpStates.Firmware());
            _iommuPages.Add(page);
        }
        _iommu.EnableSnp();
        _initialized = true;
        _rmpInitialized = true;
        _tioEnabled = request.TioEn;
        Log.PlatformChanged(_logger, "initialised", _iommuPages.Count);
        return new FirmwareOutcome(SevStatus.Success, _costs.PspInitNs);
    }

    private FirmwareOutcome ShutdownEx(ulong[] words)
    {
        var request = new SnpShutdownExBuffer(words[0]);
        if (!request.IsValid)
            return Done(SevStatus.InvalidParam);
        if (request.Length != OneWord * sizeof(ulong))
            return Done(SevStatus.InvalidLen);
        if (!_initialized)
        {
            // An earlier shutdown may have left the IOMMU in SNP mode: this one finishes that half.
            if (request.IommuSnpShutdown && _iommuPages.Count != 0)
                ReleaseIommu();
            return Done(SevStatus.Success);
        }
        if (_dfFlushRequired)
            return Done(SevStatus.DfflushRequired);
        _initialized = false;
        // Shutdown ends every guest and TDI the firmware knew (no ASID waits for a flush: DFFLUSH_REQUIRED above).
        _guestContexts.Clear();
        _tdis.Clear();
        _tioEnabled = _tioInitialized = false;
        _iommu.UnbindAllTdis();
        if (request.IommuSnpShutdown)
            ReleaseIommu();
        Log.PlatformChanged(_logger, "shut down", _iommuPages.Count);
        return new FirmwareOutcome(SevStatus.Success, _costs.PspInitNs);
    }

    // Enforcement off, the IOMMU's pages to Reclaim for the host to take back.
    private void ReleaseIommu()
    {
        foreach (var page in _iommuPages)
            Write4K(page, RmpStates.Reclaim());
        _iommuPages.Clear();
        _iommu.DisableSnp();
    }

    private FirmwareOutcome PlatformStatus(ulong[] words)
    {
        ulong page = words[0];
        if (FirmwareBuffer.Check(page, Page4K, Page4K) != SevStatus.Success)
            return Done(SevStatus.InvalidAddress);
        // Once SNP is up firmware writes only to pages it owns.
        if (_initialized && (!_rmp.Covers(page) || RmpStates.Classify(_rmp.ReadEffective(page >> SnpPageSize.Shift4K, out _)) != RmpState.Firmware))
            return Done(SevStatus.InvalidPageState);
        var status = default(SnpPlatformStatusBuffer).WithApiMajor(1).WithApiMinor(55)
            .WithState((byte)(_initialized ? 1 : 0)).WithIsRmpInitialized(_rmpInitialized)
            .WithBuildId(1).WithGuestCount((uint)_guestContexts.Count);
        for (int i = 0; i < SnpPlatformStatusBuffer.Words; i++)
            _memory.WriteU64(page + ((ulong)i * sizeof(ulong)), status.GetWord(i));
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome DfFlush()
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        _dfFlushRequired = false;
        _asidsToFlush.Clear();
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome PageReclaim(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new SnpPageReclaimBuffer(words[0]);
        ulong spa = request.Address;
        if (!_rmp.Covers(spa) || (request.PageSize2M && !SnpPageSize.IsAligned(spa, Page2M)))
            return Done(SevStatus.InvalidAddress);
        var entry = _rmp.ReadEffective(spa >> SnpPageSize.Shift4K, out bool is2M);
        if (is2M != request.PageSize2M)
            return Done(SevStatus.InvalidPageSize);
        if (!entry.Immutable)
            return Done(SevStatus.Success);
        if (InUseByFirmware(spa))
            return Done(SevStatus.InvalidPageState);
        RmpEntry next;
        switch (RmpStates.Classify(entry))
        {
            case RmpState.Firmware:
                next = RmpStates.Reclaim();
                break;
            case RmpState.Context:
                // A guest never activated ends with its page; an active one needs SNP_DECOMMISSION first.
                if (_guestContexts.TryGetValue(spa, out var guest) && guest.Asid != 0)
                    return Done(SevStatus.InvalidGuestState);
                next = RmpStates.Reclaim();
                _guestContexts.Remove(spa);
                _dfFlushRequired = true;
                break;
            case RmpState.PreGuest:
                next = entry.WithImmutable(false);
                break;
            default:
                return Done(SevStatus.InvalidPageState);
        }
        if (is2M)
            _rmp.WriteRun(spa >> SnpPageSize.Shift4K, next, as2M: true);
        else
            Write4K(spa, next);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome PageUnsmash(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        ulong spa = new SnpPageUnsmashBuffer(words[0]).Address;
        if (!_rmp.Covers(spa) || !SnpPageSize.IsAligned(spa, Page2M))
            return Done(SevStatus.InvalidAddress);
        ulong head = spa >> SnpPageSize.Shift4K;
        if (_rmp.IsOne2MEntry(head))
            return Done(SevStatus.InvalidPageSize);
        // Not RMPUPDATE's check: the fold keeps the entries' state, so it must already be one state.
        if (!_rmp.AllFoldIntoHead(head))
            return Done(SevStatus.InvalidPageState);
        _rmp.Merge(head);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome GctxCreate(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        ulong page = new SnpGctxCreateBuffer(words[0]).GctxPaddr;
        var status = CheckFreeContextPage(page);
        if (status != SevStatus.Success)
            return Done(status);
        _memory.Fill(page, (int)Page4K, 0);
        Write4K(page, RmpStates.Context());
        _guestContexts[page] = new GuestContext(page);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome IopdeSmash(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new ProposedIopdeSmashBuffer(words);
        if (!request.IsValid)
            return Done(SevStatus.InvalidParam);
        ulong iopde = request.IopdeAddress;
        ulong table = request.PteTableAddress;
        if (FirmwareBuffer.Check(iopde, sizeof(ulong)) != SevStatus.Success
            || FirmwareBuffer.Check(table, Page4K, Page4K) != SevStatus.Success)
            return Done(SevStatus.InvalidAddress);
        var old = new AmdV1Pte(_memory.ReadU64(iopde));
        ulong spa = old.Address;
        if (!old.Present || old.NextLevel != 0 || !SnpPageSize.IsAligned(spa, Page2M))
            return Done(SevStatus.InvalidParam);
        for (ulong i = 0; i < SnpPageSize.EntriesPer2M; i++)
        {
            var pte = new AmdV1Pte(_memory.ReadU64(table + (i * sizeof(ulong))));
            if (!pte.Present || pte.NextLevel != 0 || pte.Address != spa + (i << SnpPageSize.Shift4K)
                || pte.IoRead != old.IoRead || pte.IoWrite != old.IoWrite)
                return Done(SevStatus.InvalidParam);
        }
        if (!_rmp.Covers(spa))
            return Done(SevStatus.InvalidAddress);
        // Firmware smashes what PSMASH would: the run must be one 2 MiB entry.
        if (!_rmp.IsOne2MEntry(spa >> SnpPageSize.Shift4K))
            return Done(SevStatus.InvalidPageSize);
        long stall = _config.IopdeSmashStallNs;
        _iommu.Stall(spa, spa + Page2M - 1, _scheduler.NowNs + stall);
        Log.ProposedIopdeSmash(_logger, iopde, spa, stall);
        var replacement = old.WithNextLevel(1).WithAddress(table);
        return new FirmwareOutcome(SevStatus.Success, stall, () =>
        {
            _memory.WriteU64(iopde, replacement.Raw);
            _rmp.Split(spa >> SnpPageSize.Shift4K);
        });
    }

    // A firmware page that already holds firmware state: an IOMMU page or a TDI context.
    private bool InUseByFirmware(ulong page) => _iommuPages.Contains(page) || _tdis.ContainsKey(page);

    /// <summary>
    /// A page the host hands firmware for a new context (guest or TDI): INVALID_ADDRESS outside the RMP,
    /// INVALID_PAGE_SIZE inside a 2 MiB entry, INVALID_PAGE_STATE unless a firmware page that holds no
    /// firmware state yet.
    /// </summary>
    private SevStatus CheckFreeContextPage(ulong page)
    {
        if (!_rmp.Covers(page))
            return SevStatus.InvalidAddress;
        var entry = _rmp.ReadEffective(page >> SnpPageSize.Shift4K, out bool is2M);
        if (is2M)
            return SevStatus.InvalidPageSize;
        return RmpStates.Classify(entry) != RmpState.Firmware || InUseByFirmware(page) ? SevStatus.InvalidPageState : SevStatus.Success;
    }

    private void Write4K(ulong page, RmpEntry entry)
    {
        _rmp.Write(page >> SnpPageSize.Shift4K, entry);
        _rmp.NotifyChanged(page, page + Page4K - 1);
    }
}
