using Driver.Platform.Iommu;
using Driver.Platform.Time;
using Driver.Scenarios.Metrics;

namespace Driver.Scenarios.Actors;

/// <summary>
/// A device issuing one DMA write at a time at a fixed rate, as an event source on the machine's clock:
/// each transaction is one translation by the IOMMU (with T=1 for a TDI), counted by outcome. A firmware
/// stall parks the transaction and the device until the stall ends (a device's posted writes are in
/// order), and the time parked is a stall sample. The payload itself is not stored: what is measured is
/// whether and when the IOMMU lets the transaction through.
/// </summary>
internal sealed class DmaDevice : IEventSource
{
    private readonly AmdIommu _iommu;
    private readonly Scheduler _scheduler;
    private readonly ushort _deviceId;
    private readonly bool _trusted;
    private readonly uint _bytes;
    private readonly Func<ulong?> _next;
    private readonly double _intervalNs;
    private readonly long _endNs;
    private readonly DmaCounters _counters;
    private readonly ITraceSink? _trace;
    private readonly string _actor;
    private double _dueExact;
    private long _due;

    // The transaction a stall holds: its address and when it was first issued.
    private ulong _parkedIova;
    private long _parkedSinceNs = -1;

    public DmaDevice(AmdIommu iommu, Scheduler scheduler, ushort deviceId, bool trusted, uint bytes, Func<ulong?> next,
        double intervalNs, long startNs, long endNs, DmaCounters counters, ITraceSink? trace, string actor)
    {
        _iommu = iommu;
        _scheduler = scheduler;
        _deviceId = deviceId;
        _trusted = trusted;
        _bytes = bytes;
        _next = next;
        _intervalNs = intervalNs;
        _endNs = endNs;
        _counters = counters;
        _trace = trace;
        _actor = actor;
        _dueExact = startNs;
        _due = startNs < endNs ? startNs : long.MaxValue;
    }

    public long NextDueNs => _due;

    public void RunNext()
    {
        long now = _scheduler.NowNs;
        bool resumed = _parkedSinceNs >= 0;
        ulong? target = resumed ? _parkedIova : _next();
        if (target is not ulong iova)
        {
            Schedule(now);
            return;
        }
        var t = _iommu.Translate(_deviceId, iova, write: true, _trusted);
        _counters.Translations++;
        if (!t.FromIotlb)
            _counters.IotlbMisses++;
        if (t.Status == TranslationStatus.Stalled)
        {
            if (!resumed)
            {
                _parkedSinceNs = now;
                _parkedIova = iova;
                _counters.Stalled++;
            }
            _due = Math.Max(t.StallUntilNs, now + 1);
            return;
        }
        if (resumed)
        {
            long stall = now - _parkedSinceNs;
            _counters.Stalls.Add(stall);
            _trace?.Span(_actor, "stall", (ulong)_parkedSinceNs, (ulong)stall, $"0x{iova:x}");
            _parkedSinceNs = -1;
        }
        if (t.IsOk)
        {
            _counters.Completed++;
            _counters.Bytes += _bytes;
            _trace?.Span(_actor, "dma", (ulong)now, (ulong)Math.Max(1, t.CostNs), null);
        }
        else
        {
            _counters.Faulted++;
            if (t.Status == TranslationStatus.RmpFault)
                _counters.RmpFaults++;
            else
                _counters.PageFaults++;
            _trace?.Instant(_actor, t.Status == TranslationStatus.RmpFault ? "rmp-fault" : "io-page-fault", (ulong)now, $"0x{iova:x}");
        }
        Schedule(now);
    }

    /// <summary>The run ends: a transaction still held counts its stall up to <paramref name="endNs"/>.</summary>
    public void Finish(long endNs)
    {
        if (_parkedSinceNs < 0)
            return;
        _counters.Stalls.Add(endNs - _parkedSinceNs);
        _trace?.Span(_actor, "stall", (ulong)_parkedSinceNs, (ulong)(endNs - _parkedSinceNs), $"0x{_parkedIova:x} (at the end)");
        _parkedSinceNs = -1;
    }

    // The next transaction one interval after the last one was due, and never in the past.
    private void Schedule(long now)
    {
        _dueExact += _intervalNs;
        if (_dueExact <= now)
            _dueExact = now + _intervalNs;
        long due = (long)_dueExact;
        _due = due < _endNs ? due : long.MaxValue;
    }
}
