using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// The command ring in memory and the driver's side of its protocol (Linux
/// __iommu_queue_command_sync and wait_on_sem): one lock; an entry is written at
/// Tail and Tail is advanced through MMIO; a full ring waits for Head; COMPLETION_WAIT
/// stores 1, 2, 3, ... into a semaphore that is polled with a bounded busy wait on the
/// clock. A timeout is EIO and a log line, never a hang, and a processor that stopped
/// (an illegal command, a bad ring) is noticed and reported.
/// </summary>
public sealed class CommandQueue : ICommandQueue
{
    /// <summary>Linux's LOOP_TIMEOUT for the semaphore poll, each step a 1 us delay.</summary>
    public const int CompletionWaitPolls = 100_000;

    /// <summary>Linux's loop bound while the ring is full.</summary>
    public const int RingFullPolls = 2_000_000;

    public const long PollDelayNs = 1_000;

    private const int EntryBytes = 16;

    private readonly AmdIommuRegisters _registers;
    private readonly IPhysicalMemory _memory;
    private readonly IClock _clock;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly uint _entries;
    private uint _tail;
    private uint _head;
    private ulong _lastSemaphoreValue;

    /// <summary>
    /// A queue over the ring at <paramref name="ringPa"/> (2^<paramref name="lengthLg2"/> entries of
    /// 16 bytes, contiguous) whose COMPLETION_WAITs store into the 8-byte word at <paramref name="semaphorePa"/>.
    /// </summary>
    public CommandQueue(AmdIommuRegisters registers, IPhysicalMemory memory, IClock clock, ulong ringPa, int lengthLg2,
        ulong semaphorePa, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(registers);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(logger);
        if (lengthLg2 is < 8 or > 15)
            throw new ArgumentOutOfRangeException(nameof(lengthLg2), "BUG: the ring holds 2^8 to 2^15 entries");
        _registers = registers;
        _memory = memory;
        _clock = clock;
        _logger = logger;
        RingPa = ringPa;
        LengthLg2 = lengthLg2;
        SemaphorePa = semaphorePa;
        _entries = 1u << lengthLg2;
    }

    public ulong RingPa { get; }

    public int LengthLg2 { get; }

    public ulong SemaphorePa { get; }

    /// <summary>Commands written into the ring, COMPLETION_WAITs included.</summary>
    public long CommandsPosted { get; private set; }

    /// <summary>The value the last COMPLETION_WAIT asked the IOMMU to store.</summary>
    public ulong LastSemaphoreValue => _lastSemaphoreValue;

    /// <summary>Programs the base register and zeroes head and tail, as iommu_enable_command_buffer does.</summary>
    public void Program()
    {
        lock (_lock)
        {
            _registers.Write(AmdIommuMmio.CommandBufferBaseOffset,
                new CommandBufferBaseRegister(0).WithBase(RingPa).WithLength((byte)LengthLg2).Raw);
            _registers.WriteRingIndex(AmdIommuMmio.CommandBufferHeadOffset, 0);
            _registers.WriteRingIndex(AmdIommuMmio.CommandBufferTailOffset, 0);
            _tail = 0;
            _head = 0;
        }
    }

    public Errno Post(AmdCommand command)
    {
        lock (_lock)
            return PostLocked(command);
    }

    public Errno CompletionWait()
    {
        ulong value;
        lock (_lock)
        {
            // The value only grows, so an old store can never be mistaken for this one.
            value = _lastSemaphoreValue + 1;
            var err = PostLocked(AmdCommand.CompletionWait(SemaphorePa, value));
            if (err != Errno.Ok)
                return err;
            _lastSemaphoreValue = value;
        }
        for (int poll = 0; poll < CompletionWaitPolls; poll++)
        {
            if (_memory.ReadU64(SemaphorePa) == value)
                return Errno.Ok;
            if (ProcessorStopped())
            {
                Log.CommandProcessorStopped(_logger, _registers.ReadRingIndex(AmdIommuMmio.CommandBufferHeadOffset), _registers.Status);
                return Errno.EIO;
            }
            _clock.Delay(PollDelayNs);
        }
        Log.CompletionWaitTimeout(_logger, value, CompletionWaitPolls);
        return Errno.EIO;
    }

    private Errno PostLocked(AmdCommand command)
    {
        uint next = (_tail + 1) & (_entries - 1);
        if (next == _head && !WaitForRoom(next))
            return Errno.EIO;
        ulong pa = RingPa + ((ulong)_tail * EntryBytes);
        _memory.WriteU64(pa, command.Low);
        _memory.WriteU64(pa + 8, command.High);
        _tail = next;
        _registers.WriteRingIndex(AmdIommuMmio.CommandBufferTailOffset, _tail);
        CommandsPosted++;
        return Errno.Ok;
    }

    // One slot always stays empty, so head == tail means an empty ring.
    private bool WaitForRoom(uint next)
    {
        for (int poll = 0; poll < RingFullPolls; poll++)
        {
            _head = _registers.ReadRingIndex(AmdIommuMmio.CommandBufferHeadOffset);
            if (next != _head)
                return true;
            if (ProcessorStopped())
            {
                Log.CommandProcessorStopped(_logger, _head, _registers.Status);
                return false;
            }
            _clock.Delay(PollDelayNs);
        }
        Log.CommandBufferTimeout(_logger, _head, _tail);
        return false;
    }

    // The processor runs while CmdBufEn is set; hardware clears CmdBufRun when it stops on an error.
    private bool ProcessorStopped() =>
        _registers.Control.CmdBufEn && !_registers.Status.CmdBufRun;
}
