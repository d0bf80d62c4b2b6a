using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Platform.Iommu;

/// <summary>
/// The command processor: fetches 16-byte commands from the ring between Head
/// and Tail, one per event on the clock. An unknown opcode or a set reserved
/// bit logs ILLEGAL_COMMAND_ERROR with the command's address and stops the
/// processor with Head on that command, until the driver toggles CmdBufEn.
/// </summary>
public sealed partial class AmdIommu
{
    private const int InvalidationHistory = 64;

    private readonly InvalidationRecord[] _invalidations = new InvalidationRecord[InvalidationHistory];
    private int _invalidationCount;
    private long _commandDueNs = long.MaxValue;
    private bool _commandsStopped;

    // Orders cache fills and invalidations for the cache monitor.
    private long _epoch;

    private bool CommandsRunning => _control.IommuEn && _control.CmdBufEn && !_commandsStopped;

    public long NextDueNs => _commandDueNs;

    public void RunNext()
    {
        _commandDueNs = long.MaxValue;
        if (CommandsRunning && CommandsPending)
            ExecuteOne();
        KickCommands();
    }

    private uint CommandMask => (1u << _cmdBase.Length) - 1;

    private bool CommandsPending => (_cmdHead.Offset & CommandMask) != (_cmdTail.Offset & CommandMask);

    private void KickCommands()
    {
        if (_commandDueNs == long.MaxValue && CommandsRunning && CommandsPending)
            _commandDueNs = _scheduler.NowNs + _costs.IommuMemoryAccessNs + _costs.IommuCommandNs;
    }

    private void ExecuteOne()
    {
        uint head = _cmdHead.Offset & CommandMask;
        ulong pa = _cmdBase.Base + head * EntryBytes;
        if (pa + EntryBytes > IPhysicalMemory.Limit)
        {
            // The ring runs off the end of the physical address space.
            var error = default(CommandHardwareErrorEvent).WithEventCode(EventCode.CommandHardwareError).WithAddress(pa);
            LogEvent(error.GetWord(0), error.GetWord(1));
            _commandsStopped = true;
            return;
        }
        ReadOnlySpan<ulong> words = [_memory.ReadU64(pa), _memory.ReadU64(pa + 8)];
        bool accepted = new CommandHeader(words).Opcode switch
        {
            CommandOpcode.CompletionWait => CompletionWait(new CompletionWaitCommand(words)),
            CommandOpcode.InvalidateDevtabEntry => InvalidateDevtabEntry(new InvalidateDevtabEntryCommand(words)),
            CommandOpcode.InvalidateIommuPages => InvalidateIommuPages(new InvalidateIommuPagesCommand(words)),
            CommandOpcode.InvalidateIotlbPages => new InvalidateIotlbPagesCommand(words).IsValid,
            CommandOpcode.InvalidateInterruptTable => new InvalidateInterruptTableCommand(words).IsValid,
            CommandOpcode.InvalidateIommuAll => InvalidateIommuAll(new InvalidateIommuAllCommand(words)),
            _ => false,
        };
        if (!accepted)
        {
            var ev = default(IllegalCommandErrorEvent).WithEventCode(EventCode.IllegalCommandError).WithAddress(pa);
            LogEvent(ev.GetWord(0), ev.GetWord(1));
            _commandsStopped = true;
            return;
        }
        _cmdHead = _cmdHead.WithOffset((ushort)((head + 1) & CommandMask));
        CommandsExecuted++;
    }

    private bool CompletionWait(CompletionWaitCommand command)
    {
        if (!command.IsValid)
            return false;
        if (command.Store)
            _memory.WriteU64(command.StoreAddress, command.StoreData);
        if (command.Interrupt)
        {
            _status = _status.WithComWaitInt(true);
            if (_control.ComWaitIntEn)
                RaiseInterrupt();
        }
        return true;
    }

    private bool InvalidateDevtabEntry(InvalidateDevtabEntryCommand command)
    {
        if (!command.IsValid)
            return false;
        _dteCache.Invalidate(command.DeviceId);
        Record(InvalidationKind.DeviceTableEntry, command.DeviceId, InvalidationRange.All);
        return true;
    }

    private bool InvalidateIommuPages(InvalidateIommuPagesCommand command)
    {
        if (!command.IsValid)
            return false;
        // Guest (PASID) translations are not modelled, so nothing is cached for them.
        if (command.GuestNested)
            return true;
        var range = InvalidationRange.Decode(command.Address, command.Size);
        _iotlb.InvalidateIova(command.DomainId, range.First, range.Last);
        if (command.Pde)
            _pdeCache.Invalidate(command.DomainId, range.First, range.Last);
        Record(InvalidationKind.Pages, command.DomainId, range);
        return true;
    }

    private bool InvalidateIommuAll(InvalidateIommuAllCommand command)
    {
        if (!command.IsValid || !_efr.IaSup)
            return false;
        FlushAllCaches();
        Record(InvalidationKind.All, 0, InvalidationRange.All);
        return true;
    }

    internal void FlushAllCaches()
    {
        _dteCache.InvalidateAll();
        _iotlb.InvalidateAll();
        _pdeCache.InvalidateAll();
    }

    private void Record(InvalidationKind kind, ushort id, InvalidationRange range)
    {
        _invalidations[_invalidationCount++ % InvalidationHistory] = new InvalidationRecord(kind, id, range, ++_epoch);
    }

    /// <summary>Whether an invalidation covering (domain, device, IOVA) completed after <paramref name="epoch"/>.</summary>
    internal bool InvalidatedSince(long epoch, ushort domainId, ushort deviceId, ulong iova)
    {
        int count = Math.Min(_invalidationCount, InvalidationHistory);
        for (int i = 0; i < count; i++)
        {
            ref readonly var r = ref _invalidations[i];
            if (r.Epoch > epoch && r.Covers(domainId, deviceId, iova))
                return true;
        }
        return false;
    }
}
