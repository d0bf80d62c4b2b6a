using Driver.Hw.Sev;
using Driver.Platform.Bus;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Psp;

/// <summary>
/// The PSP's SEV mailbox (sev v2 register offsets). The host writes the buffer
/// address low and high, then the command id to cmdresp; the firmware runs,
/// and after the command's time on the clock sets RESP with the status in
/// cmdresp (and the completion interrupt when IOC asked for it). Every
/// doorbell completes that handshake, a refused command too, so a polling
/// driver always gets its answer. The completion interrupt sets its status
/// bit and, when enabled, raises the PSP's line (<see cref="Interrupt"/>);
/// the machine routes it to <c>Machine.PspIrq</c>.
/// </summary>
public sealed class PspDevice : IMmioDevice, IEventSource
{
    private readonly SnpFirmware _firmware;
    private readonly Scheduler _scheduler;
    private readonly ILogger _logger;
    private PspInterruptRegister _interruptEnable;
    private PspInterruptStatusRegister _interruptStatus;
    private uint _cmdResp;
    private uint _addressLo;
    private uint _addressHi;
    private bool _interruptOnCompletion;
    private long _dueNs = long.MaxValue;
    private SevStatus _pendingStatus;
    private SevCommandId _pendingCommand;
    private long _startNs;
    private Action? _pendingCompletion;

    internal PspDevice(SnpFirmware firmware, Scheduler scheduler)
    {
        _firmware = firmware;
        _scheduler = scheduler;
        _logger = firmware.LoggerFactory.CreateLogger<PspDevice>();
    }

    /// <summary>The read-only feature register: the SEV interface is present.</summary>
    public PspFeatureRegister Feature { get; } = new PspFeatureRegister(0).WithSev(true);

    /// <summary>Commands completed so far.</summary>
    public long CommandsCompleted { get; private set; }

    /// <summary>Completion interrupts raised.</summary>
    public long InterruptCount { get; private set; }

    /// <summary>The PSP's interrupt line: raised for every completion that sets the status bit with the enable on.</summary>
    public event Action? Interrupt;

    /// <summary>Writes to cmdresp ignored because a command was still running.</summary>
    public long IgnoredDoorbells { get; private set; }

    public long NextDueNs => _dueNs;

    public ulong Read(ulong offset, int size)
    {
        ulong value = (offset & ~3UL) switch
        {
            PspMmio.InterruptEnableOffset => _interruptEnable.Raw,
            PspMmio.InterruptStatusOffset => _interruptStatus.Raw,
            PspMmio.CmdRespOffset => _cmdResp,
            PspMmio.CmdBufferAddressLoOffset => _addressLo,
            PspMmio.CmdBufferAddressHiOffset => _addressHi,
            PspMmio.FeatureOffset => Feature.Raw,
            _ => 0,
        };
        // A 64-bit read of a 32-bit register file returns the next register in the high half.
        return size == 8 ? value | (Read(offset + 4, 4) << 32) : value;
    }

    public void Write(ulong offset, int size, ulong value)
    {
        WriteRegister(offset, (uint)value);
        if (size == 8)
            WriteRegister(offset + 4, (uint)(value >> 32));
    }

    private void WriteRegister(ulong offset, uint value)
    {
        switch (offset)
        {
            case PspMmio.InterruptEnableOffset:
                _interruptEnable = PspInterruptRegister.ApplyWrite(_interruptEnable, new(value));
                break;
            case PspMmio.InterruptStatusOffset:
                _interruptStatus = PspInterruptStatusRegister.ApplyWrite(_interruptStatus, new(value));
                break;
            case PspMmio.CmdBufferAddressLoOffset:
                _addressLo = value;
                break;
            case PspMmio.CmdBufferAddressHiOffset:
                _addressHi = value;
                break;
            case PspMmio.CmdRespOffset:
                Doorbell(new PspCmdRespRegister(value));
                break;
        }
    }

    private void Doorbell(PspCmdRespRegister command)
    {
        if (_dueNs != long.MaxValue)
        {
            IgnoredDoorbells++;
            Log.DoorbellIgnored(_logger, _pendingCommand, command.CommandId);
            return;
        }
        _cmdResp = command.Raw & ~new PspCmdStatusRegister(0).WithResponse(true).Raw;
        _interruptOnCompletion = command.InterruptOnCompletion;
        ulong buffer = ((ulong)_addressHi << 32) | _addressLo;
        Log.CommandStarted(_logger, command.CommandId, buffer);
        var outcome = command.IsValid
            ? _firmware.Execute(command.CommandId, buffer)
            : new FirmwareOutcome(SevStatus.InvalidCommand, 0);
        _pendingStatus = outcome.Status;
        _pendingCompletion = outcome.AtCompletion;
        _pendingCommand = command.CommandId;
        _startNs = _scheduler.NowNs;
        _dueNs = _scheduler.NowNs + Math.Max(1, outcome.DurationNs);
    }

    public void RunNext()
    {
        _dueNs = long.MaxValue;
        var completion = _pendingCompletion;
        _pendingCompletion = null;
        completion?.Invoke();
        _cmdResp = new PspCmdStatusRegister(0).WithStatus(_pendingStatus).WithResponse(true).Raw;
        CommandsCompleted++;
        if (_pendingStatus != SevStatus.Success)
            Log.CommandFailed(_logger, _pendingCommand, _pendingStatus);
        Log.CommandCompleted(_logger, _pendingCommand, _pendingStatus, _scheduler.NowNs - _startNs);
        if (_interruptOnCompletion && _interruptEnable.CommandComplete)
        {
            _interruptStatus = _interruptStatus.WithCommandComplete(true);
            InterruptCount++;
            Interrupt?.Invoke();
        }
    }
}
