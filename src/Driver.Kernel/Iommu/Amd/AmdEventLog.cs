using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// The driver's side of the event log (Linux amd_iommu_int_thread and iommu_poll_events): on the
/// interrupt, the w1c causes are cleared, entries between Head and Tail are decoded, logged and
/// published, Head is written back, and an overflow is handled as Linux does: log and interrupt
/// disabled, EventOverflow cleared, both enabled again.
/// </summary>
public sealed class AmdEventLog
{
    private const int EntryBytes = 16;

    private readonly AmdIommuRegisters _registers;
    private readonly IPhysicalMemory _memory;
    private readonly ILogger _logger;

    public AmdEventLog(AmdIommuRegisters registers, IPhysicalMemory memory, ulong logPa, int lengthLg2, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(registers);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(logger);
        _registers = registers;
        _memory = memory;
        _logger = logger;
        LogPa = logPa;
        Entries = 1u << lengthLg2;
    }

    public ulong LogPa { get; }

    public uint Entries { get; }

    /// <summary>Events read from the log.</summary>
    public long EventsRead { get; private set; }

    /// <summary>Times the log overflowed and was restarted; the IOMMU dropped events each time.</summary>
    public long Overflows { get; private set; }

    /// <summary>Every event read, in log order (iommufd's fault path subscribes here).</summary>
    public event Action<AmdIommuEvent>? EventReceived;

    /// <summary>The interrupt handler: runs until no event cause is left in Status. Returns the events read.</summary>
    public int HandleInterrupt()
    {
        int read = 0;
        var causes = new StatusRegister(0).WithEventLogInt(true).WithEventOverflow(true);
        for (var status = _registers.Status; (status.Raw & causes.Raw) != 0; status = _registers.Status)
        {
            _registers.ClearStatus(new StatusRegister(status.Raw & causes.Raw));
            read += Poll();
            if (status.EventOverflow)
                Restart();
        }
        return read;
    }

    /// <summary>Reads every entry between Head and Tail (iommu_poll_events).</summary>
    public int Poll()
    {
        uint head = _registers.ReadRingIndex(AmdIommuMmio.EventLogHeadOffset);
        uint tail = _registers.ReadRingIndex(AmdIommuMmio.EventLogTailOffset);
        int read = 0;
        // A tail outside the ring is a broken device: read nothing rather than loop.
        if (head >= Entries || tail >= Entries)
            return 0;
        while (head != tail)
        {
            ulong pa = LogPa + ((ulong)head * EntryBytes);
            var ev = new AmdIommuEvent(_memory.ReadU64(pa), _memory.ReadU64(pa + 8));
            Print(ev);
            EventReceived?.Invoke(ev);
            head = (head + 1) & (Entries - 1);
            read++;
        }
        _registers.WriteRingIndex(AmdIommuMmio.EventLogHeadOffset, head);
        EventsRead += read;
        return read;
    }

    private void Restart()
    {
        if (_registers.Status.EventLogRun)
            return;
        Overflows++;
        Log.EventLogRestart(_logger, Overflows);
        var control = _registers.Control;
        _registers.Control = control.WithEventLogEn(false);
        _registers.Control = control.WithEventLogEn(false).WithEventIntEn(false);
        _registers.ClearStatus(new StatusRegister(0).WithEventOverflow(true));
        _registers.Control = control.WithEventLogEn(false).WithEventIntEn(true);
        _registers.Control = control.WithEventLogEn(true).WithEventIntEn(true);
    }

    private void Print(AmdIommuEvent ev)
    {
        switch (ev.Code)
        {
            case EventCode.IoPageFault:
                Log.IoPageFault(_logger, ev.DeviceId, ev.DomainOrPasid, ev.Address, ev.Flags, ev);
                break;
            case EventCode.IllegalDevTableEntry:
                Log.IllegalDevTableEntry(_logger, ev.DeviceId, ev.Address, ev.Flags, ev);
                break;
            case EventCode.DevTabHardwareError:
                Log.DevTabHardwareError(_logger, ev.DeviceId, ev.Address, ev.Flags, ev);
                break;
            case EventCode.PageTabHardwareError:
                Log.PageTabHardwareError(_logger, ev.DeviceId, ev.Address, ev.Flags, ev);
                break;
            case EventCode.IllegalCommandError:
                Log.IllegalCommandError(_logger, ev.Address, ev);
                break;
            case EventCode.CommandHardwareError:
                Log.CommandHardwareError(_logger, ev.Address, ev.Flags, ev);
                break;
            case EventCode.IotlbInvTimeout:
                Log.IotlbInvTimeout(_logger, ev.DeviceId, ev.Address, ev);
                break;
            case EventCode.InvalidDeviceRequest:
                Log.InvalidDeviceRequest(_logger, ev.DeviceId, ev.Address, ev.Flags, ev);
                break;
            case EventCode.RmpPageFault:
                Log.RmpPageFault(_logger, ev.DeviceId, ev.Address, ev.Flags, ev);
                break;
            case EventCode.RmpHardwareError:
                Log.RmpHardwareError(_logger, ev.DeviceId, ev.Address, ev.Flags, ev);
                break;
            default:
                Log.UnknownEvent(_logger, ev.Low, ev.High);
                break;
        }
    }
}
