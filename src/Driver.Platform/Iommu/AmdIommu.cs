using Driver.Hw.AmdIommu;
using Driver.Platform.Bus;
using Driver.Platform.Memory;
using Driver.Platform.Monitors;
using Driver.Platform.Snp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Iommu;

/// <summary>
/// The AMD IOMMU device model. The kernel programs it only as Linux programs
/// the real one: registers through MMIO, the device table, page tables and the
/// command ring in memory, the event log read back from memory. This class is
/// the register file: it decodes MMIO and hands each register to the part that
/// owns it, the <see cref="CommandProcessor"/> (an event source on the clock,
/// so commands take simulated time after the tail write), the
/// <see cref="EventLog"/>, the <see cref="TranslationUnit"/> and the
/// <see cref="SnpControls"/>. Unlike QEMU it keeps the caches real hardware has
/// (DTE cache, PDE cache, IOTLB), so a driver that forgets an invalidation sees
/// stale translations, as it would on a real machine.
/// </summary>
public sealed class AmdIommu : IMmioDevice, IEventSource
{
    // Bits a write of all ones clears: the w1c bits, as the generated ApplyWrite defines them.
    private static readonly ulong StatusW1cMask =
        ~StatusRegister.ApplyWrite(new StatusRegister(ulong.MaxValue), new StatusRegister(ulong.MaxValue)).Raw;

    private readonly EventLog _eventLog;
    private readonly SnpControls _snp;
    private readonly TranslationUnit _translation;
    private readonly CommandProcessor _commands;
    private readonly ExtendedFeatureRegister _efr;
    private readonly ExtendedFeature2Register _efr2;
    private ControlRegister _control;
    private ExclusionBaseRegister _exclBase;
    private ExclusionLimitRegister _exclLimit;

    // The status bits no part owns (the PPR and GA logs are not modelled).
    private StatusRegister _status;

    public AmdIommu(PhysicalMemory memory, Scheduler scheduler, CostModel costs, IommuConfig config, RmpTable? rmp = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<AmdIommu>();
        var limit = PhysicalLimit.Create(config.PhysicalAddressBits);
        Config = config;
        _efr = config.Efr;
        _efr2 = config.Efr2;
        _eventLog = new EventLog(memory, limit, logger, RaiseInterrupt);
        _snp = new SnpControls(rmp, scheduler, costs, config.RmpRule, logger);
        _translation = new TranslationUnit(memory, costs, config, limit, _eventLog, _snp, logger);
        _commands = new CommandProcessor(memory, scheduler, costs, limit, _eventLog, _translation, _efr.IaSup, logger, RaiseInterrupt);
        if (rmp is not null)
            rmp.Changed += _translation.InvalidateSpa;
    }

    /// <summary>Watches what the IOMMU does for the invariant monitors; null for none (the fast path).</summary>
    public InvariantMonitor? Monitor
    {
        get => _translation.Monitor;
        set => _translation.Monitor = value;
    }

    public IommuConfig Config { get; }

    /// <summary>Interrupts raised (event log, completion wait).</summary>
    public long InterruptCount { get; private set; }

    /// <summary>Raised with every interrupt the IOMMU signals.</summary>
    public event Action? Interrupt;

    /// <summary>Commands executed so far.</summary>
    public long CommandsExecuted => _commands.Executed;

    /// <summary>Events written to the log, and events lost because it was off, stopped or full.</summary>
    public long EventsLogged => _eventLog.Logged;

    public long EventsDropped => _eventLog.Dropped;

    /// <summary>Lines in the IOTLB and PDE cache (for tests and statistics).</summary>
    public int IotlbCount => _translation.IotlbCount;

    public int PdeCacheCount => _translation.PdeCacheCount;

    /// <summary>Table words the stale-translation monitor watches: those translation walks have read.</summary>
    internal int WatchedTableWords => _translation.WatchedTableWords;

    /// <summary>True while firmware has SNP enforcement on: every DMA is checked against the RMP.</summary>
    public bool SnpEnforced => _snp.Enforced;

    /// <summary>True while firmware has locked the configuration registers.</summary>
    public bool ConfigLocked => _snp.ConfigLocked;

    public long NextDueNs => _commands.NextDueNs;

    /// <summary>Whether the IOMMU meets SNP_INIT's requirements: enabled and EFR.SNPSup.</summary>
    internal bool ReadyForSnp => _control.IommuEn && _efr.SnpSup;

    public void RunNext() => _commands.RunNext();

    /// <summary>
    /// Translates a request of <paramref name="deviceId"/> at <paramref name="iova"/>,
    /// logging the event a failure produces.
    /// </summary>
    public TranslationResult Translate(ushort deviceId, ulong iova, bool write) => _translation.Translate(deviceId, iova, write);

    /// <summary>
    /// Translates a request that may be trusted (PCIe T=1, from a TDI): under SNP a trusted request
    /// carries the ASID of the guest firmware bound the TDI to, and the RMP check asks for that guest's page.
    /// </summary>
    public TranslationResult Translate(ushort deviceId, ulong iova, bool write, bool trusted) => _translation.Translate(deviceId, iova, write, trusted);

    /// <summary>The ASID the trusted requests of <paramref name="deviceId"/> carry (0: no TDI bound).</summary>
    public ushort TdiAsid(ushort deviceId) => _snp.BoundAsid(deviceId);

    /// <summary>Test-only switch of the RMP check, see <see cref="SnpControls.BreakRmpCheckForTests"/>.</summary>
    internal bool BreakRmpCheckForTests
    {
        get => _snp.BreakRmpCheckForTests;
        set => _snp.BreakRmpCheckForTests = value;
    }

    /// <summary>The kernel wrote a word of memory (the monitors' view of page-table changes; the IOMMU itself sees nothing).</summary>
    internal void KernelWrote(ulong pa) => _translation.KernelWrote(pa);

    public ulong Read(ulong offset, int size)
    {
        ulong value = ReadRegister(offset & ~7UL);
        return size == 8 ? value : (uint)(value >> (int)((offset & 4) * 8));
    }

    public void Write(ulong offset, int size, ulong value)
    {
        ulong register = offset & ~7UL;
        if (size == 4)
        {
            // A 32-bit write keeps the other half, except that it writes 0 to w1c bits there.
            int shift = (int)((offset & 4) * 8);
            ulong w1c = register == AmdIommuMmio.StatusOffset ? StatusW1cMask : 0;
            ulong keep = ReadRegister(register) & ~w1c & ~(0xFFFF_FFFFUL << shift);
            value = keep | ((value & 0xFFFF_FFFFUL) << shift);
        }
        WriteRegister(register, value);
    }

    internal void EnableSnp()
    {
        _snp.Enforce(true);
        _translation.FlushAll();
    }

    internal void DisableSnp()
    {
        _snp.Enforce(false);
        _translation.FlushAll();
    }

    /// <summary>TIO_TDI_BIND: firmware binds the TDI; what was cached for the device's requests is dropped.</summary>
    internal void BindTdi(ushort deviceId, ushort asid)
    {
        _snp.BindTdi(deviceId, asid);
        _translation.FlushAll();
    }

    internal void UnbindTdi(ushort deviceId)
    {
        _snp.UnbindTdi(deviceId);
        _translation.FlushAll();
    }

    internal void UnbindAllTdis() => _snp.UnbindAllTdis();

    /// <summary>Holds DMA to [first, last] until <paramref name="untilNs"/>.</summary>
    internal void Stall(ulong first, ulong last, long untilNs) => _snp.Stall(first, last, untilNs);

    /// <summary>The 4 KiB pages of the event log, which firmware takes over under SNP.</summary>
    internal IEnumerable<ulong> EventLogPages() => _eventLog.Pages();

    /// <summary>The completion-wait write-back pages (the exclusion range registers, reused under SNP).</summary>
    internal IEnumerable<ulong> CompletionWaitPages()
    {
        ulong first = _exclBase.Base;
        if (first == 0)
            yield break;
        ulong last = Math.Max(first, _exclLimit.Limit);
        for (ulong page = first; page <= last; page += 0x1000)
            yield return page;
    }

    private ulong ReadRegister(ulong offset) => offset switch
    {
        AmdIommuMmio.DeviceTableBaseOffset => _translation.DeviceTable.Raw,
        AmdIommuMmio.CommandBufferBaseOffset => _commands.Base.Raw,
        AmdIommuMmio.EventLogBaseOffset => _eventLog.Base.Raw,
        AmdIommuMmio.ControlOffset => _control.Raw,
        AmdIommuMmio.ExclusionBaseOffset => _exclBase.Raw,
        AmdIommuMmio.ExclusionLimitOffset => _exclLimit.Raw | 0xFFF,
        AmdIommuMmio.ExtendedFeatureOffset => _efr.Raw,
        AmdIommuMmio.ExtendedFeature2Offset => _efr2.Raw,
        AmdIommuMmio.CommandBufferHeadOffset => _commands.Head.Raw,
        AmdIommuMmio.CommandBufferTailOffset => _commands.Tail.Raw,
        AmdIommuMmio.EventLogHeadOffset => _eventLog.Head.Raw,
        AmdIommuMmio.EventLogTailOffset => _eventLog.Tail.Raw,
        AmdIommuMmio.StatusOffset => Status.Raw,
        _ => 0,
    };

    private StatusRegister Status => _status
        .WithEventOverflow(_eventLog.Overflow).WithEventLogInt(_eventLog.Interrupted).WithComWaitInt(_commands.WaitInterrupted)
        .WithEventLogRun(_eventLog.Running).WithCmdBufRun(_commands.Running);

    private void WriteRegister(ulong offset, ulong value)
    {
        bool locked = _snp.ConfigLocked;
        switch (offset)
        {
            case AmdIommuMmio.DeviceTableBaseOffset when !locked:
                _translation.DeviceTable = DeviceTableBaseRegister.ApplyWrite(_translation.DeviceTable, new(value));
                break;
            case AmdIommuMmio.CommandBufferBaseOffset when !locked:
                _commands.Base = CommandBufferBaseRegister.ApplyWrite(_commands.Base, new(value));
                break;
            case AmdIommuMmio.EventLogBaseOffset when !locked:
                _eventLog.Base = EventLogBaseRegister.ApplyWrite(_eventLog.Base, new(value));
                break;
            case AmdIommuMmio.ControlOffset:
                WriteControl(new ControlRegister(value));
                break;
            case AmdIommuMmio.ExclusionBaseOffset when !locked:
                _exclBase = ExclusionBaseRegister.ApplyWrite(_exclBase, new(value));
                break;
            case AmdIommuMmio.ExclusionLimitOffset when !locked:
                _exclLimit = ExclusionLimitRegister.ApplyWrite(_exclLimit, new(value));
                break;
            case AmdIommuMmio.CommandBufferHeadOffset:
                _commands.Head = RingPointerRegister.ApplyWrite(_commands.Head, new(value));
                break;
            case AmdIommuMmio.CommandBufferTailOffset:
                _commands.Tail = RingPointerRegister.ApplyWrite(_commands.Tail, new(value));
                break;
            case AmdIommuMmio.EventLogHeadOffset:
                _eventLog.Head = RingPointerRegister.ApplyWrite(_eventLog.Head, new(value));
                break;
            case AmdIommuMmio.EventLogTailOffset:
                _eventLog.Tail = RingPointerRegister.ApplyWrite(_eventLog.Tail, new(value));
                break;
            case AmdIommuMmio.StatusOffset:
                var next = StatusRegister.ApplyWrite(Status, new(value));
                _eventLog.Overflow = next.EventOverflow;
                _eventLog.Interrupted = next.EventLogInt;
                _commands.WaitInterrupted = next.ComWaitInt;
                _status = next.WithEventOverflow(false).WithEventLogInt(false).WithComWaitInt(false).WithEventLogRun(false).WithCmdBufRun(false);
                break;
        }
    }

    private void WriteControl(ControlRegister written)
    {
        var next = ControlRegister.ApplyWrite(_control, written);
        // Under SNP firmware owns the enable: the host cannot turn translation off.
        if (_snp.ConfigLocked)
            next = next.WithIommuEn(_control.IommuEn);
        _control = next;
        _translation.Enabled = next.IommuEn;
        _eventLog.Control(next.IommuEn, next.EventLogEn, next.EventIntEn);
        _commands.Control(next.IommuEn, next.CmdBufEn, next.ComWaitIntEn);
    }

    private void RaiseInterrupt()
    {
        InterruptCount++;
        Interrupt?.Invoke();
    }
}
