using Driver.Hw.AmdIommu;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Iommu;

/// <summary>
/// The event log: a ring in memory written at Tail and consumed by the driver
/// at Head. Off or overflowed, it drops events; full, it sets EventOverflow and
/// stops until the driver re-enables EventLogEn (after clearing the bit).
/// </summary>
internal sealed class EventLog
{
    private readonly PhysicalMemory _memory;
    private readonly PhysicalLimit _limit;
    private readonly ILogger _logger;
    private readonly Action _interrupt;
    private EventLogBaseRegister _base;
    private bool _iommuEnabled;
    private bool _logEnabled;
    private bool _interruptEnabled;

    // Set when the log overflowed; logging restarts when the driver re-enables EventLogEn.
    private bool _stopped;

    public EventLog(PhysicalMemory memory, PhysicalLimit limit, ILogger logger, Action interrupt)
    {
        _memory = memory;
        _limit = limit;
        _logger = logger;
        _interrupt = interrupt;
    }

    /// <summary>The base register; writing it moves the ring and resets Head and Tail.</summary>
    public EventLogBaseRegister Base
    {
        get => _base;
        set
        {
            _base = value;
            Head = default;
            Tail = default;
        }
    }

    public RingPointerRegister Head { get; set; }

    public RingPointerRegister Tail { get; set; }

    /// <summary>Status bits this part owns (w1c in the register file).</summary>
    public bool Overflow { get; set; }

    public bool Interrupted { get; set; }

    public bool Running => _iommuEnabled && _logEnabled && !_stopped;

    public long Logged { get; private set; }

    public long Dropped { get; private set; }

    /// <summary>Takes the Control bits that concern the log; a rising EventLogEn restarts a stopped log.</summary>
    public void Control(bool iommuEnabled, bool logEnabled, bool interruptEnabled)
    {
        if (logEnabled && !_logEnabled)
            _stopped = false;
        _iommuEnabled = iommuEnabled;
        _logEnabled = logEnabled;
        _interruptEnabled = interruptEnabled;
    }

    /// <summary>Appends one event; false when it was dropped (log off, stopped, overflowed, full, or out of reach).</summary>
    public bool Append(ulong word0, ulong word1)
    {
        if (!Running || Overflow)
        {
            Dropped++;
            return false;
        }
        uint mask = Ring.Mask(_base.Length);
        uint tail = Tail.Offset & mask;
        uint next = (tail + 1) & mask;
        if (next == (Head.Offset & mask))
        {
            Overflow = true;
            _stopped = true;
            Dropped++;
            Log.EventLogOverflow(_logger, Head.Offset & mask, tail);
            if (_interruptEnabled)
                _interrupt();
            return false;
        }
        ulong pa = Ring.EntryAddress(_base.Base, tail);
        if (!_limit.Reaches(pa, Ring.EntryBytes))
        {
            // Nowhere to report it: the entry itself is what cannot be written.
            Dropped++;
            Log.EventLogUnreachable(_logger, pa, new EventHeader([word0, word1]));
            return false;
        }
        _memory.WriteU64(pa, word0);
        _memory.WriteU64(pa + 8, word1);
        Tail = Tail.WithOffset((ushort)next);
        Logged++;
        Interrupted = true;
        if (_interruptEnabled)
            _interrupt();
        return true;
    }

    /// <summary>The 4 KiB pages of the log, which firmware takes over under SNP.</summary>
    public IEnumerable<ulong> Pages()
    {
        ulong first = _base.Base;
        ulong bytes = Ring.Bytes(_base.Length);
        for (ulong page = first; page < first + bytes; page += 0x1000)
            yield return page;
    }
}
