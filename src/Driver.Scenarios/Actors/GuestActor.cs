using Driver.Hw.Interfaces;
using Driver.Kernel;
using Driver.Platform.Time;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Metrics;

namespace Driver.Scenarios.Actors;

/// <summary>
/// The SNP guest's vCPU. At boot it validates its memory with PVALIDATE. During the run it asks, at the
/// conversion rate (intervals jittered by the seed), to share one 4 KiB page inside a 2 MiB page, keeps
/// it shared for half an interval, asks for it back and validates it again. A request waits while the
/// VMM is busy with an earlier one; a round trip's latency is the time the guest waited for both exits.
/// </summary>
internal sealed class GuestActor
{
    private const string Actor = "guest";

    private readonly Testbed _bed;
    private readonly Vmm _vmm;
    private readonly ConversionState _state;
    private readonly ISnpGuestCpu _cpu;
    private readonly ConversionCounters _counters;
    private readonly ITraceSink? _trace;
    private readonly double _intervalNs;
    private readonly long _holdNs;
    private readonly long _endNs;
    private readonly Queue<Pending> _returns = new();
    private SplitMix64 _random;
    private long _nextRequestNs;

    public GuestActor(Testbed bed, Vmm vmm, ConversionState state, ConversionCounters counters, ITraceSink? trace, ulong seed,
        double intervalNs, long startNs, long endNs)
    {
        _bed = bed;
        _vmm = vmm;
        _state = state;
        _cpu = bed.GuestCpu;
        _counters = counters;
        _trace = trace;
        _random = new SplitMix64(seed);
        _intervalNs = intervalNs;
        _holdNs = Math.Max(1, (long)(intervalNs / 2));
        _endNs = endNs;
        _nextRequestNs = startNs + Jitter();
    }

    private readonly record struct Pending(ulong Page, long DueNs, long WaitedNs);

    /// <summary>When the guest next asks for something; <see cref="long.MaxValue"/> when nothing is left before the end.</summary>
    public long NextActionNs
    {
        get
        {
            long next = _returns.Count != 0 ? Math.Min(_returns.Peek().DueNs, _nextRequestNs) : _nextRequestNs;
            return next < _endNs ? next : long.MaxValue;
        }
    }

    /// <summary>PVALIDATE of one page at boot or after a return to private: true when the page is now validated.</summary>
    public static bool Validate(ISnpGuestCpu cpu, ulong gpa, ulong spa, bool pageSize2M) =>
        cpu.Pvalidate(gpa, spa, pageSize2M, validate: true) == PvalidateResult.Success;

    /// <summary>Runs what is due at <paramref name="dueNs"/> (the clock is there): a return first, else a new request.</summary>
    public void RunNext(long dueNs)
    {
        if (_returns.Count != 0 && _returns.Peek().DueNs <= dueNs)
        {
            Return(_returns.Dequeue(), dueNs);
            return;
        }
        Request(dueNs);
        _nextRequestNs = dueNs + Jitter();
    }

    private void Request(long dueNs)
    {
        int block = _random.NextInt(_bed.Layout.Blocks);
        ulong first = (ulong)block * GuestLayout.PagesPer2M;
        ulong pages = Math.Min(GuestLayout.PagesPer2M, _bed.Layout.Pages - first);
        ulong page = first + (_random.Next() % pages);
        if (_state.IsBusy(page))
            return;
        _state.Begin(page);
        var err = _vmm.ToShared(page);
        long waited = _bed.Machine.Clock.NowNs - dueNs;
        _counters.Requests++;
        if (err != Errno.Ok)
        {
            _counters.Failed++;
            _state.End(page);
            _trace?.Instant(Actor, "share refused", (ulong)_bed.Machine.Clock.NowNs, err.ToString());
            return;
        }
        _returns.Enqueue(new Pending(page, _bed.Machine.Clock.NowNs + _holdNs, waited));
    }

    private void Return(Pending pending, long dueNs)
    {
        var err = _vmm.ToPrivate(pending.Page);
        ulong gpa = _bed.Layout.Gpa(pending.Page);
        // Its PVALIDATE first faults the page into stage 2 (KVM zapped it on the way to shared).
        if (err == Errno.Ok)
            err = _bed.FaultIn(gpa);
        if (err == Errno.Ok && !Validate(_cpu, gpa, _bed.Layout.Spa(pending.Page), pageSize2M: false))
            err = Errno.EFAULT;
        long waited = pending.WaitedNs + (_bed.Machine.Clock.NowNs - dueNs);
        _state.End(pending.Page);
        if (err != Errno.Ok)
        {
            _counters.Failed++;
            _trace?.Instant(Actor, "unshare refused", (ulong)_bed.Machine.Clock.NowNs, err.ToString());
            return;
        }
        _counters.Completed++;
        _counters.Latency.Add(waited);
    }

    // Between half and one and a half intervals: the mean rate is the option's, the phase is the seed's.
    private long Jitter() => Math.Max(1, (long)(_intervalNs * (0.5 + (_random.Next() >> 11) * (1.0 / (1UL << 53)))));
}
