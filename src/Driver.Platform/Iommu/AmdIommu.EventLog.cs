using Driver.Hw.Interfaces;

namespace Driver.Platform.Iommu;

/// <summary>The event log ring: written at Tail, consumed by the driver at Head, with overflow.</summary>
public sealed partial class AmdIommu
{
    private const ulong EntryBytes = 16;

    // Set when the log overflowed; logging restarts when the driver re-enables EventLogEn.
    private bool _eventLogStopped;

    private bool EventLogRunning => _control.IommuEn && _control.EventLogEn && !_eventLogStopped;

    /// <summary>Appends one event; false when it was dropped (log off, stopped, overflowed, or full).</summary>
    internal bool LogEvent(ulong word0, ulong word1)
    {
        if (!EventLogRunning || _status.EventOverflow)
        {
            EventsDropped++;
            return false;
        }
        uint mask = (1u << _evtBase.Length) - 1;
        uint tail = _evtTail.Offset & mask;
        uint next = (tail + 1) & mask;
        if (next == (_evtHead.Offset & mask))
        {
            _status = _status.WithEventOverflow(true);
            _eventLogStopped = true;
            EventsDropped++;
            if (_control.EventIntEn)
                RaiseInterrupt();
            return false;
        }
        ulong pa = _evtBase.Base + tail * EntryBytes;
        if (pa + EntryBytes > IPhysicalMemory.Limit)
        {
            EventsDropped++;
            return false;
        }
        _memory.WriteU64(pa, word0);
        _memory.WriteU64(pa + 8, word1);
        _evtTail = _evtTail.WithOffset((ushort)next);
        EventsLogged++;
        _status = _status.WithEventLogInt(true);
        if (_control.EventIntEn)
            RaiseInterrupt();
        return true;
    }

    /// <summary>The 4 KiB pages of the event log, which firmware takes over under SNP.</summary>
    internal IEnumerable<ulong> EventLogPages()
    {
        ulong bytes = (1UL << _evtBase.Length) * EntryBytes;
        for (ulong page = _evtBase.Base; page < _evtBase.Base + bytes; page += 0x1000)
            yield return page;
    }

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
}
