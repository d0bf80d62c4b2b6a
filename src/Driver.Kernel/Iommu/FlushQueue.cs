using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Iommu;

/// <summary>
/// Lazy invalidation for one domain (Linux dma-iommu's flush queue, iommu.strict=0): an unmap
/// leaves its range and its freed table frames here instead of flushing. When the queue is full
/// or its timeout has passed on the clock, one flush of the whole domain covers every entry;
/// only then are the table frames freed and the IOVA handed back.
/// </summary>
public sealed class FlushQueue
{
    /// <summary>Linux IOVA_FQ_SIZE.</summary>
    public const int DefaultCapacity = 256;

    /// <summary>Linux IOVA_FQ_TIMEOUT, 10 ms.</summary>
    public const long DefaultTimeoutNs = 10_000_000;

    private readonly List<Entry> _entries = [];

    // Gathers of flushed entries, handed out again so that a lazy unmap allocates none.
    private readonly Stack<IotlbGather> _spareGathers = new();
    private readonly IClock _clock;
    private readonly ILogger _logger;
    private long _deadlineNs = long.MaxValue;

    public FlushQueue(IClock clock, int capacity = DefaultCapacity, long timeoutNs = DefaultTimeoutNs, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(clock);
        _logger = logger ?? NullLogger.Instance;
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeoutNs, 1);
        _clock = clock;
        Capacity = capacity;
        TimeoutNs = timeoutNs;
    }

    public int Capacity { get; }

    public long TimeoutNs { get; }

    public int Count => _entries.Count;

    /// <summary>Whole-domain flushes issued for the queue.</summary>
    public long Flushes { get; private set; }

    /// <summary>Failed flushes (the entries stayed queued).</summary>
    public long FailedFlushes { get; private set; }

    /// <summary>True when an entry overlaps iova..iova+size-1: it may not be mapped again before the flush.</summary>
    public bool Overlaps(ulong iova, ulong size)
    {
        ulong last = iova + (size - 1);
        foreach (var e in _entries)
        {
            if (iova <= e.Last && e.Iova <= last)
                return true;
        }
        return false;
    }

    /// <summary>An empty gather for the next unmap into this queue.</summary>
    internal IotlbGather RentGather() => _spareGathers.TryPop(out var gather) ? gather : new IotlbGather();

    /// <summary>Takes back a gather that is done with (synced, or never used).</summary>
    internal void ReturnGather(IotlbGather gather)
    {
        gather.Reset();
        _spareGathers.Push(gather);
    }

    internal void Add(IIommuDomainOps ops, ulong iova, ulong size, IotlbGather gather, Action? release)
    {
        if (_entries.Count == 0)
            _deadlineNs = _clock.NowNs + TimeoutNs;
        _entries.Add(new Entry(iova, iova + (size - 1), gather, release));
        if (_entries.Count >= Capacity)
            Flush(ops);
    }

    /// <summary>Flushes when the timeout has passed (the timer's work, run at each core entry).</summary>
    internal void FlushIfDue(IIommuDomainOps ops)
    {
        if (_entries.Count != 0 && _clock.NowNs >= _deadlineNs)
            Flush(ops);
    }

    /// <summary>One flush of the domain, then every entry's frames and IOVA are released.</summary>
    internal Errno Flush(IIommuDomainOps ops)
    {
        if (_entries.Count == 0)
            return Errno.Ok;
        var err = ops.FlushIotlbAll();
        if (err != Errno.Ok)
        {
            FailedFlushes++;
            Log.FlushQueueFailed(_logger, err, _entries.Count);
            return err;
        }
        Flushes++;
        Log.FlushQueueFlushed(_logger, _entries.Count);
        foreach (var e in _entries)
        {
            // The range is covered by the flush-all; what is left is freeing the tables.
            e.Gather.ClearRange();
            ops.IotlbSync(e.Gather);
            e.Release?.Invoke();
            ReturnGather(e.Gather);
        }
        _entries.Clear();
        _deadlineNs = long.MaxValue;
        return Errno.Ok;
    }

    private readonly record struct Entry(ulong Iova, ulong Last, IotlbGather Gather, Action? Release);
}
