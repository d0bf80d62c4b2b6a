using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Psp;

/// <summary>
/// The SEV mailbox as Linux's __sev_do_cmd_locked drives it: the buffer address low and high,
/// then cmdresp with the command id (and IOC when the driver takes the interrupt), then a wait
/// bounded on the clock for RESP (or the interrupt). A timeout is ETIMEDOUT, a log line, and a
/// dead PSP that refuses every later command with EBUSY, as Linux's psp_dead does; a firmware
/// status other than SUCCESS is EIO with the status given out (psp_ret).
/// </summary>
public sealed class PspMailbox
{
    private readonly IMmio _mmio;
    private readonly IClock _clock;
    private readonly SevDeviceConfig _config;
    private readonly ILogger _logger;
    private bool _interruptMode;
    private bool _interruptReceived;

    public PspMailbox(IMmio mmio, IClock clock, SevDeviceConfig config, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(mmio);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(logger);
        _mmio = mmio;
        _clock = clock;
        _config = config;
        _logger = logger;
    }

    /// <summary>Set after a command timed out: the PSP is not trusted with another command.</summary>
    public bool Dead { get; private set; }

    /// <summary>Commands sent to the PSP (refused ones not counted).</summary>
    public long CommandsIssued { get; private set; }

    private ulong Register(ulong offset) => _config.MmioBase + offset;

    /// <summary>
    /// Switches to the completion interrupt: enables it in the PSP and sets IOC on every command.
    /// The caller installed <see cref="HandleInterrupt"/> on the line.
    /// </summary>
    public MmioStatus EnableInterrupt()
    {
        var status = _mmio.Write32(Register(PspMmio.InterruptStatusOffset), new PspInterruptStatusRegister(0).WithCommandComplete(true).Raw);
        if (status == MmioStatus.Ok)
            status = _mmio.Write32(Register(PspMmio.InterruptEnableOffset), new PspInterruptRegister(0).WithCommandComplete(true).Raw);
        _interruptMode = status == MmioStatus.Ok;
        return status;
    }

    /// <summary>
    /// The PSP's interrupt handler (psp_irq_handler, then sev_irq_handler): read the status and write
    /// it back to acknowledge; on a command completion whose cmdresp has RESP, wake the waiter.
    /// </summary>
    public void HandleInterrupt()
    {
        if (_mmio.Read32(Register(PspMmio.InterruptStatusOffset), out uint raw) != MmioStatus.Ok)
            return;
        var status = new PspInterruptStatusRegister(raw);
        _mmio.Write32(Register(PspMmio.InterruptStatusOffset), status.Raw);
        if (!status.CommandComplete)
            return;
        if (_mmio.Read32(Register(PspMmio.CmdRespOffset), out uint cmdResp) == MmioStatus.Ok && new PspCmdStatusRegister(cmdResp).Response)
            _interruptReceived = true;
    }

    /// <summary>Whether commands ask for the completion interrupt and the wait sleeps on it.</summary>
    public bool InterruptMode => _interruptMode;

    /// <summary>
    /// Runs <paramref name="command"/> on the buffer at <paramref name="bufferPa"/> (0 for a command
    /// without one). Ok, or EIO with the firmware's <paramref name="status"/>, ETIMEDOUT when no answer
    /// came in time, EBUSY once the PSP is dead, EIO (status SUCCESS) when the mailbox itself failed.
    /// </summary>
    public Errno DoCmd(SevCommandId command, ulong bufferPa, out SevStatus status)
    {
        status = SevStatus.Success;
        if (Dead)
        {
            Log.PspDead(_logger, command);
            return Errno.EBUSY;
        }
        if (!Write(PspMmio.CmdBufferAddressLoOffset, (uint)bufferPa, command)
            || !Write(PspMmio.CmdBufferAddressHiOffset, (uint)(bufferPa >> 32), command))
            return Errno.EIO;
        _interruptReceived = false;
        var doorbell = new PspCmdRespRegister(0).WithCommandId(command).WithInterruptOnCompletion(_interruptMode);
        if (!Write(PspMmio.CmdRespOffset, doorbell.Raw, command))
            return Errno.EIO;
        CommandsIssued++;

        var err = WaitForResponse(command, out var answer);
        if (err != Errno.Ok)
            return err;
        status = answer.Status;
        if (status == SevStatus.Success)
            return Errno.Ok;
        Log.CommandFailed(_logger, command, status);
        return Errno.EIO;
    }

    // sev_wait_cmd_ioc: with the interrupt, sleep until the handler saw the completion (then read
    // cmdresp once); without, poll cmdresp with a delay that doubles so a long bound costs few reads.
    private Errno WaitForResponse(SevCommandId command, out PspCmdStatusRegister answer)
    {
        answer = default;
        if (_interruptMode)
        {
            if (_clock.WaitEventTimeout(() => _interruptReceived, _config.CommandTimeoutNs))
                return ReadResponse(command, out answer) ? Errno.Ok : Errno.EIO;
            return TimedOut(command);
        }
        long deadline = _clock.NowNs + _config.CommandTimeoutNs;
        long delay = _config.PollDelayNs;
        while (true)
        {
            if (!ReadResponse(command, out answer))
                return Errno.EIO;
            if (answer.Response)
                return Errno.Ok;
            if (_clock.NowNs >= deadline)
                return TimedOut(command);
            _clock.Delay(delay);
            delay = Math.Min(delay * 2, _config.MaxPollDelayNs);
        }
    }

    private bool ReadResponse(SevCommandId command, out PspCmdStatusRegister answer)
    {
        var bus = _mmio.Read32(Register(PspMmio.CmdRespOffset), out uint raw);
        answer = new PspCmdStatusRegister(raw);
        if (bus == MmioStatus.Ok)
            return true;
        Log.MailboxBusError(_logger, Register(PspMmio.CmdRespOffset), bus, command);
        answer = default;
        return false;
    }

    private Errno TimedOut(SevCommandId command)
    {
        Dead = true;
        Log.CommandTimedOut(_logger, command, _config.CommandTimeoutNs);
        return Errno.ETIMEDOUT;
    }

    private bool Write(ulong offset, uint value, SevCommandId command)
    {
        var bus = _mmio.Write32(Register(offset), value);
        if (bus == MmioStatus.Ok)
            return true;
        Log.MailboxBusError(_logger, Register(offset), bus, command);
        return false;
    }
}
