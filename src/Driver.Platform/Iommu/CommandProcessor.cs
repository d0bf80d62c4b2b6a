using Driver.Hw.AmdIommu;
using Driver.Platform.Memory;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Iommu;

/// <summary>
/// The command processor: fetches 16-byte commands from the ring between Head
/// and Tail, one per event on the clock. An unknown opcode or a set reserved
/// bit logs ILLEGAL_COMMAND_ERROR with the command's address; a command or a
/// completion-wait store beyond the physical limit logs COMMAND_HARDWARE_ERROR.
/// Either stops the processor with Head on that command until the driver
/// toggles CmdBufEn.
/// </summary>
internal sealed class CommandProcessor
{
    private readonly PhysicalMemory _memory;
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly PhysicalLimit _limit;
    private readonly EventLog _eventLog;
    private readonly TranslationUnit _translation;
    private readonly bool _invalidateAllSupported;
    private readonly ILogger _logger;
    private readonly Action _interrupt;
    private readonly PostRecord _posts = new();
    private CommandBufferBaseRegister _base;
    private RingPointerRegister _head;
    private RingPointerRegister _tail;
    private bool _iommuEnabled;
    private bool _bufferEnabled;
    private bool _waitInterruptEnabled;
    private bool _stopped;

    public CommandProcessor(
        PhysicalMemory memory, Scheduler scheduler, CostModel costs, PhysicalLimit limit, EventLog eventLog,
        TranslationUnit translation, bool invalidateAllSupported, ILogger logger, Action interrupt)
    {
        _memory = memory;
        _scheduler = scheduler;
        _costs = costs;
        _limit = limit;
        _eventLog = eventLog;
        _translation = translation;
        _invalidateAllSupported = invalidateAllSupported;
        _logger = logger;
        _interrupt = interrupt;
    }

    /// <summary>The base register; writing it moves the ring and resets Head and Tail.</summary>
    public CommandBufferBaseRegister Base
    {
        get => _base;
        set
        {
            _base = value;
            _head = default;
            _tail = default;
            _posts.Clear();
        }
    }

    public RingPointerRegister Head
    {
        get => _head;
        set
        {
            _head = value;
            Kick();
        }
    }

    public RingPointerRegister Tail
    {
        get => _tail;
        set
        {
            if (_translation.Monitor is not null)
                _posts.Posted(_tail.Offset & Mask, value.Offset & Mask, _translation.NextEpoch());
            _tail = value;
            Kick();
        }
    }

    /// <summary>The status bit this part owns: a COMPLETION_WAIT with I = 1 completed (w1c).</summary>
    public bool WaitInterrupted { get; set; }

    public bool Running => _iommuEnabled && _bufferEnabled && !_stopped;

    public long Executed { get; private set; }

    public long NextDueNs { get; private set; } = long.MaxValue;

    private uint Mask => Ring.Mask(_base.Length);

    private bool Pending => (_head.Offset & Mask) != (_tail.Offset & Mask);

    /// <summary>Takes the Control bits that concern commands; a rising CmdBufEn restarts a stopped processor.</summary>
    public void Control(bool iommuEnabled, bool bufferEnabled, bool waitInterruptEnabled)
    {
        if (bufferEnabled && !_bufferEnabled && _stopped)
        {
            _stopped = false;
            Log.CommandsRestarted(_logger, _head.Offset & Mask);
        }
        _iommuEnabled = iommuEnabled;
        _bufferEnabled = bufferEnabled;
        _waitInterruptEnabled = waitInterruptEnabled;
        Kick();
    }

    public void RunNext()
    {
        NextDueNs = long.MaxValue;
        if (Running && Pending)
            ExecuteOne();
        Kick();
    }

    private void Kick()
    {
        if (NextDueNs == long.MaxValue && Running && Pending)
            NextDueNs = _scheduler.NowNs + _costs.IommuMemoryAccessNs + _costs.IommuCommandNs;
    }

    private void ExecuteOne()
    {
        uint head = _head.Offset & Mask;
        ulong pa = Ring.EntryAddress(_base.Base, head);
        if (!_limit.Reaches(pa, Ring.EntryBytes))
        {
            HardwareError(pa);
            return;
        }
        ReadOnlySpan<ulong> words = [_memory.ReadU64(pa), _memory.ReadU64(pa + 8)];
        var opcode = new CommandHeader(words).Opcode;
        var verdict = opcode switch
        {
            CommandOpcode.CompletionWait => CompletionWait(new CompletionWaitCommand(words)),
            CommandOpcode.InvalidateDevtabEntry => InvalidateDevtabEntry(new InvalidateDevtabEntryCommand(words)),
            CommandOpcode.InvalidateIommuPages => InvalidateIommuPages(new InvalidateIommuPagesCommand(words)),
            CommandOpcode.InvalidateIotlbPages => Accepted(new InvalidateIotlbPagesCommand(words).IsValid),
            CommandOpcode.InvalidateInterruptTable => Accepted(new InvalidateInterruptTableCommand(words).IsValid),
            CommandOpcode.InvalidateIommuAll => InvalidateIommuAll(new InvalidateIommuAllCommand(words)),
            _ => Verdict.Illegal,
        };
        switch (verdict.Kind)
        {
            case VerdictKind.Illegal:
                var ev = default(IllegalCommandErrorEvent).WithEventCode(EventCode.IllegalCommandError).WithAddress(pa);
                _eventLog.Append(ev.GetWord(0), ev.GetWord(1));
                _stopped = true;
                Log.IllegalCommand(_logger, pa, new CommandHeader(words), words[0], words[1]);
                return;
            case VerdictKind.HardwareError:
                HardwareError(verdict.Address);
                return;
        }
        _head = _head.WithOffset((ushort)((head + 1) & Mask));
        Executed++;
        if (_translation.Monitor is not null && _posts.Executed(head, Mask) is long posted && opcode == CommandOpcode.CompletionWait)
            _translation.CompletionWaitDone(posted);
    }

    private void HardwareError(ulong address)
    {
        var ev = default(CommandHardwareErrorEvent).WithEventCode(EventCode.CommandHardwareError).WithAddress(address);
        _eventLog.Append(ev.GetWord(0), ev.GetWord(1));
        _stopped = true;
        Log.CommandHardwareError(_logger, address);
    }

    private static Verdict Accepted(bool valid) => valid ? Verdict.Done : Verdict.Illegal;

    private Verdict CompletionWait(CompletionWaitCommand command)
    {
        if (!command.IsValid)
            return Verdict.Illegal;
        if (command.Store)
        {
            if (!_limit.Reaches(command.StoreAddress, sizeof(ulong)))
                return Verdict.Unreachable(command.StoreAddress);
            _memory.WriteU64(command.StoreAddress, command.StoreData);
        }
        if (command.Interrupt)
        {
            WaitInterrupted = true;
            if (_waitInterruptEnabled)
                _interrupt();
        }
        return Verdict.Done;
    }

    private Verdict InvalidateDevtabEntry(InvalidateDevtabEntryCommand command)
    {
        if (!command.IsValid)
            return Verdict.Illegal;
        _translation.InvalidateDte(command.DeviceId);
        return Verdict.Done;
    }

    private Verdict InvalidateIommuPages(InvalidateIommuPagesCommand command)
    {
        if (!command.IsValid)
            return Verdict.Illegal;
        // Guest (PASID) translations are not modelled, so nothing is cached for them.
        if (!command.GuestNested)
            _translation.InvalidatePages(command.DomainId, InvalidationRange.Decode(command.Address, command.Size), command.Pde);
        return Verdict.Done;
    }

    private Verdict InvalidateIommuAll(InvalidateIommuAllCommand command)
    {
        if (!command.IsValid || !_invalidateAllSupported)
            return Verdict.Illegal;
        _translation.InvalidateAll();
        return Verdict.Done;
    }

    private enum VerdictKind
    {
        Done,
        Illegal,
        HardwareError,
    }

    /// <summary>How one command ended; for a hardware error, the address that could not be reached.</summary>
    private readonly record struct Verdict(VerdictKind Kind, ulong Address)
    {
        public static readonly Verdict Done = new(VerdictKind.Done, 0);
        public static readonly Verdict Illegal = new(VerdictKind.Illegal, 0);

        public static Verdict Unreachable(ulong address) => new(VerdictKind.HardwareError, address);
    }
}
