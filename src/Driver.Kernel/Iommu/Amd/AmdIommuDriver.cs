using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// One AMD IOMMU brought up and driven through MMIO and memory only, in the order of Linux's
/// init.c: read EFR and EFR2, allocate the device table, the command ring, the event log and
/// the completion-wait semaphore, program them with the IOMMU disabled, enable the event log,
/// the command buffer and the IOMMU, then invalidate every device-table entry in use and, when
/// EFR.IA says it can, everything else with INVALIDATE_IOMMU_ALL.
/// </summary>
public sealed partial class AmdIommuDriver : IIommuDriver
{
    private readonly IPhysicalMemory _memory;
    private readonly IClock _clock;
    private readonly IFrameAllocator _allocator;
    private readonly ILogger _logger;
    private readonly List<ulong> _frames = [];
    private readonly Lock _lock = new();
    private readonly IInterruptController? _interrupts;
    private readonly ISnpCpu? _cpu;
    private readonly Dictionary<ushort, AmdProtectionDomain> _attached = [];
    private DeviceTable? _deviceTable;
    private CommandQueue? _queue;
    private AmdEventLog? _eventLog;

    /// <summary>
    /// A driver for the IOMMU at <see cref="AmdIommuConfig.MmioBase"/>. With <paramref name="interrupts"/>
    /// the event log is drained on the IOMMU's line; without, only when asked (<see cref="AmdEventLog.HandleInterrupt"/>).
    /// <paramref name="cpu"/> gives the RMP instructions <see cref="SnpDisable"/> needs to hand the
    /// IOMMU's pages back after SNP.
    /// </summary>
    public AmdIommuDriver(IMmio mmio, IPhysicalMemory memory, IClock clock, IFrameAllocator allocator,
        AmdIommuConfig? config = null, ILoggerFactory? loggerFactory = null, IInterruptController? interrupts = null, ISnpCpu? cpu = null)
    {
        ArgumentNullException.ThrowIfNull(mmio);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(allocator);
        Config = config ?? new AmdIommuConfig();
        _memory = memory;
        _clock = clock;
        _allocator = allocator;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = LoggerFactory.CreateLogger<AmdIommuDriver>();
        Registers = new AmdIommuRegisters(mmio, Config.MmioBase);
        _interrupts = interrupts;
        _cpu = cpu;
    }

    public AmdIommuConfig Config { get; }

    internal IPhysicalMemory Memory => _memory;

    internal IFrameAllocator Allocator => _allocator;

    public ILoggerFactory LoggerFactory { get; }

    public AmdIommuRegisters Registers { get; }

    public ExtendedFeatureRegister Features { get; private set; }

    public ExtendedFeature2Register Features2 { get; private set; }

    public bool Initialized { get; private set; }

    /// <summary>Set once SNP_INIT's precondition passed (<see cref="SnpEnable"/>): firmware owns the configuration.</summary>
    public bool SnpEnabled { get; private set; }

    /// <summary>The device table; valid after <see cref="Init"/>.</summary>
    public DeviceTable DeviceTable => _deviceTable ?? throw new InvalidOperationException("BUG: the IOMMU is not initialised");

    /// <summary>The command ring; valid after <see cref="Init"/>.</summary>
    public ICommandQueue Commands => CommandQueue;

    public CommandQueue CommandQueue => _queue ?? throw new InvalidOperationException("BUG: the IOMMU is not initialised");

    public ulong EventLogPa => EventLog.LogPa;

    /// <summary>The event log; valid after <see cref="Init"/>. Its handler runs on the IOMMU's interrupt.</summary>
    public AmdEventLog EventLog => _eventLog ?? throw new InvalidOperationException("BUG: the IOMMU is not initialised");

    public DomainIdAllocator DomainIds { get; } = new();

    /// <summary>Host page-table levels the IOMMU walks (EFR.HATS).</summary>
    public int MaxLevels => Features.Hats switch
    {
        HostAddressTranslationSize.Level4 => 4,
        HostAddressTranslationSize.Level5 => 5,
        HostAddressTranslationSize.Level6 => 6,
        _ => 0,
    };

    /// <summary>
    /// Page sizes a new paging domain may use: 0 means every size AMDv1 offers; once SNP is
    /// enabled only 4K, unless <see cref="AmdIommuConfig.HugePagesWithSnp"/> is set.
    /// </summary>
    public ulong DomainPageSizes => SnpEnabled && !Config.HugePagesWithSnp ? 1UL << 12 : 0;

    /// <summary>
    /// Probes and enables the IOMMU. ENODEV when nothing answers at the MMIO base or the IOMMU
    /// cannot walk host tables, ENOMEM when its structures cannot be allocated, EIO when the
    /// first invalidation does not complete; on failure nothing stays allocated or enabled.
    /// </summary>
    public Errno Init()
    {
        lock (_lock)
        {
            if (Initialized)
                return Errno.EBUSY;
            Features = Registers.ExtendedFeatures;
            Features2 = Registers.ExtendedFeatures2;
            if (Registers.LastError != MmioStatus.Ok)
            {
                Log.NoDevice(_logger, Config.MmioBase, Registers.LastError);
                return Errno.ENODEV;
            }
            if (MaxLevels == 0)
            {
                Log.NoHostTranslation(_logger, Features);
                return Errno.ENODEV;
            }

            var err = AllocateStructures();
            if (err != Errno.Ok)
            {
                FreeStructures();
                return err;
            }
            if (_interrupts is not null && !_interrupts.RequestIrq(Config.Irq, () => EventLog.HandleInterrupt()))
            {
                Log.IrqBusy(_logger, Config.Irq);
                FreeStructures();
                return Errno.EBUSY;
            }
            Enable();
            err = InvalidateAll();
            if (err != Errno.Ok)
            {
                Registers.Control = default;
                _interrupts?.FreeIrq(Config.Irq);
                FreeStructures();
                return err;
            }
            Initialized = true;
            Log.Enabled(_logger, Config.MmioBase, Features, Features2, DeviceTable.Entries - 1);
            return Errno.Ok;
        }
    }

    /// <summary>
    /// The check Linux makes before SNP_INIT (amd_iommu_snp_enable): EINVAL when the IOMMU is not
    /// up or in passthrough mode (one message for both, as Linux prints), and without EFR.SNPSup.
    /// Once it passes, new domains map with
    /// 4K pages only (unless configured otherwise) and the driver stops writing the registers
    /// firmware locks.
    /// </summary>
    public Errno SnpEnable()
    {
        lock (_lock)
        {
            if (!Initialized || Config.Passthrough)
            {
                Log.SnpPassthrough(_logger);
                return Errno.EINVAL;
            }
            if (!Features.SnpSup)
            {
                Log.SnpNotSupported(_logger, Features);
                return Errno.EINVAL;
            }
            SnpEnabled = true;
            Log.SnpEnabled(_logger, DomainPageSizes == 0 ? ulong.MaxValue : DomainPageSizes);
            return Errno.Ok;
        }
    }

    /// <summary>amd_iommu_probe_device: ENODEV before init or for a DeviceID outside the device table.</summary>
    public Errno ProbeDevice(ushort deviceId, out IommuDeviceCaps caps)
    {
        caps = default;
        if (!Initialized || !DeviceTable.Contains(deviceId))
            return Errno.ENODEV;
        // amd_iommu_capable: dirty tracking with EFR.HDSup; ATS needs a device with the ATS capability,
        // which no device of the machine has.
        caps = new IommuDeviceCaps(Features.HdSup, MaxLevels, PciAts: false);
        return Errno.Ok;
    }

    /// <summary>A protection domain; EOPNOTSUPP when dirty tracking is asked for without EFR.HDSup.</summary>
    public Errno AllocPagingDomain(DomainAllocFlags flags, out IIommuDomainOps? domain)
    {
        domain = null;
        if ((flags & ~DomainAllocFlags.DirtyTracking) != 0)
            return Errno.EOPNOTSUPP;
        if ((flags & DomainAllocFlags.DirtyTracking) != 0 && !Features.HdSup)
            return Errno.EOPNOTSUPP;
        var err = AmdProtectionDomain.Alloc(this, out var created);
        domain = created;
        return err;
    }

    /// <summary>
    /// Points the device at a domain of any kind: the DTE in the safe order, INVALIDATE_DEVTAB_ENTRY
    /// and a wait; the domain the device leaves then flushes its IOTLB. ENODEV for an unknown
    /// device, EINVAL for a paging domain of another driver.
    /// </summary>
    public Errno AttachDevice(ushort deviceId, IommuDomainType type, IIommuDomainOps? paging)
    {
        if (!Initialized || !DeviceTable.Contains(deviceId))
            return Errno.ENODEV;
        _attached.TryGetValue(deviceId, out var old);
        Errno err;
        AmdProtectionDomain? next = null;
        if (type == IommuDomainType.Paging)
        {
            if (paging is not AmdProtectionDomain domain)
                return Errno.EINVAL;
            next = domain;
            err = domain.Attach(deviceId);
        }
        else
        {
            err = WriteDeviceTableEntry(deviceId, type == IommuDomainType.Identity ? IdentityEntry : BlockedEntry, Commands);
        }
        if (err != Errno.Ok)
            return err;
        if (old is not null && old != next)
            old.Release(deviceId);
        if (next is null)
            _attached.Remove(deviceId);
        else
            _attached[deviceId] = next;
        return Errno.Ok;
    }

    /// <summary>
    /// Writes a DTE in the safe order, then INVALIDATE_DEVTAB_ENTRY and a wait through
    /// <paramref name="commands"/>. ENODEV for a DeviceID outside the table.
    /// </summary>
    internal Errno WriteDeviceTableEntry(ushort deviceId, AmdDte entry, ICommandQueue commands)
    {
        if (!DeviceTable.Contains(deviceId))
            return Errno.ENODEV;
        DeviceTable.Write(deviceId, entry);
        return commands.PostAndWait(AmdCommand.InvalidateDevtabEntry(deviceId));
    }

    /// <summary>The entry of a device no domain owns: translation on, no permission (Linux's blocked DTE).</summary>
    public static AmdDte BlockedEntry => default(AmdDte).WithValid(true).WithTranslationValid(true);

    /// <summary>An identity entry: no translation, reads and writes allowed.</summary>
    public static AmdDte IdentityEntry => BlockedEntry.WithIoRead(true).WithIoWrite(true);

    private Errno AllocateStructures()
    {
        int devTabPages = ((Config.LastDeviceId + 1) + DeviceTable.EntriesPerPage - 1) / DeviceTable.EntriesPerPage;
        if (!TryAlloc(devTabPages, "the device table", out ulong devTab))
            return Errno.ENOMEM;
        int ringPages = Math.Max(1, (16 << Config.CommandBufferLengthLg2) / 4096);
        if (!TryAlloc(ringPages, "the command buffer", out ulong ring))
            return Errno.ENOMEM;
        int logPages = Math.Max(1, (16 << Config.EventLogLengthLg2) / 4096);
        if (!TryAlloc(logPages, "the event log", out ulong log))
            return Errno.ENOMEM;
        // The semaphore gets a 4K page of its own: with SNP the RMP checks it at that size.
        if (!TryAlloc(1, "the completion-wait semaphore", out ulong semaphore))
            return Errno.ENOMEM;

        _deviceTable = new DeviceTable(_memory, devTab, devTabPages);
        for (int id = 0; id < _deviceTable.Entries; id++)
            _deviceTable.Write((ushort)id, BlockedEntry);
        _queue = new CommandQueue(Registers, _memory, _clock, ring, Config.CommandBufferLengthLg2, semaphore,
            LoggerFactory.CreateLogger<CommandQueue>());
        _eventLog = new AmdEventLog(Registers, _memory, log, Config.EventLogLengthLg2, LoggerFactory.CreateLogger<AmdEventLog>());
        return Errno.Ok;
    }

    private void Enable()
    {
        Registers.Control = default;
        Registers.Write(AmdIommuMmio.DeviceTableBaseOffset, DeviceTable.BaseRegister.Raw);
        CommandQueue.Program();
        if (Features.SnpSup)
        {
            // Under SNP the exclusion registers name the completion-wait write-back page
            // (Linux iommu_set_cwwb_range); firmware locks them at SNP_INIT.
            Registers.Write(AmdIommuMmio.ExclusionBaseOffset, new ExclusionBaseRegister(0).WithBase(CommandQueue.SemaphorePa).Raw);
            Registers.Write(AmdIommuMmio.ExclusionLimitOffset, new ExclusionLimitRegister(0).WithLimit(CommandQueue.SemaphorePa).Raw);
        }
        Registers.Write(AmdIommuMmio.EventLogBaseOffset,
            new EventLogBaseRegister(0).WithBase(EventLogPa).WithLength((byte)Config.EventLogLengthLg2).Raw);
        Registers.WriteRingIndex(AmdIommuMmio.EventLogHeadOffset, 0);
        Registers.WriteRingIndex(AmdIommuMmio.EventLogTailOffset, 0);
        var control = new ControlRegister(0).WithEventLogEn(true).WithEventIntEn(true);
        Registers.Control = control;
        control = control.WithCmdBufEn(true);
        Registers.Control = control;
        Registers.Control = control.WithIommuEn(true);
    }

    // amd_iommu_flush_all_caches: every DTE in use, then everything else when EFR.IA allows.
    private Errno InvalidateAll()
    {
        for (int id = 0; id < DeviceTable.Entries; id++)
        {
            var err = Commands.Post(AmdCommand.InvalidateDevtabEntry((ushort)id));
            if (err != Errno.Ok)
                return err;
        }
        if (Features.IaSup)
        {
            var err = Commands.Post(AmdCommand.InvalidateIommuAll());
            if (err != Errno.Ok)
                return err;
        }
        return Commands.CompletionWait();
    }

    private bool TryAlloc(int pages, string what, out ulong pa)
    {
        if (!_allocator.TryAllocContiguous(pages, out pa))
        {
            Log.OutOfMemory(_logger, what);
            return false;
        }
        for (int i = 0; i < pages; i++)
            _frames.Add(pa + ((ulong)i << 12));
        return true;
    }

    private void FreeStructures()
    {
        foreach (ulong frame in _frames)
            _allocator.Free(frame);
        _frames.Clear();
        _deviceTable = null;
        _queue = null;
        _eventLog = null;
    }
}
