using Driver.Hw.Interfaces;
using Driver.Platform.Interrupts;

namespace Driver.Platform.Time;

/// <summary>
/// Moves the clock and runs device events in time order. Every kernel-visible
/// hardware access goes through <see cref="HardwareAccess"/>: the DMA that is
/// due runs first, and with the seeded probability one more pending event is
/// pulled in early, so that many seeds explore many interleavings and one seed
/// always replays the same run. Sources due at the same time run in the order
/// they were registered (the machine registers the IOMMU and the PSP before any
/// DMA agent, so firmware finishing at time t is seen by DMA arriving at t).
/// One kernel thread drives a scheduler: the first thread that enters it owns
/// it, and entry from any other thread is a bug that throws, not a race to lose.
/// </summary>
public sealed class Scheduler : IClock
{
    private readonly List<IEventSource> _sources = [];
    private readonly double _extraInterleaving;
    private SplitMix64 _random;
    private bool _running;

    // Managed id of the thread that drives the machine; 0 until the first entry.
    private int _owner;

    /// <param name="clock">The clock this scheduler drives.</param>
    /// <param name="seed">Chooses the extra interleavings.</param>
    /// <param name="extraInterleaving">Probability, per hardware access, of running one pending event early.</param>
    public Scheduler(SimClock clock, ulong seed = 0, double extraInterleaving = 0)
    {
        if (extraInterleaving is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(extraInterleaving));
        Clock = clock;
        _random = new SplitMix64(seed);
        _extraInterleaving = extraInterleaving;
    }

    public SimClock Clock { get; }

    /// <summary>Where pending interrupts are delivered at the end of each kernel-visible access.</summary>
    public InterruptController? Interrupts { get; set; }

    public long NowNs => Clock.NowNs;

    /// <summary>Events run so far, early ones included.</summary>
    public long EventsRun { get; private set; }

    /// <summary>Events pulled in early by the seed.</summary>
    public long EarlyEventsRun { get; private set; }

    public void Register(IEventSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (_sources.Contains(source))
            throw new InvalidOperationException("event source registered twice");
        _sources.Add(source);
    }

    /// <summary>A kernel-visible access that takes <paramref name="costNs"/>: due events run first.</summary>
    public void HardwareAccess(long costNs)
    {
        EnterFromOwner();
        Advance(Clock.NowNs + costNs);
        if (_extraInterleaving > 0 && !_running && _random.Chance(_extraInterleaving))
            RunOneEarly();
        DeliverInterrupts();
    }

    public void Delay(long ns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ns);
        EnterFromOwner();
        Advance(Clock.NowNs + ns);
        DeliverInterrupts();
    }

    /// <summary>
    /// The kernel thread sleeps: device events run in time order, pending interrupts are delivered
    /// after each, and the sleep ends at the first point where <paramref name="condition"/> holds, or
    /// at the deadline (false). Time with nothing due is skipped, so a long bound costs nothing.
    /// </summary>
    public bool WaitEventTimeout(Func<bool> condition, long timeoutNs)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentOutOfRangeException.ThrowIfNegative(timeoutNs);
        EnterFromOwner();
        if (_running)
            throw new InvalidOperationException("a device event cannot sleep on the kernel's wait");
        long deadline = Clock.NowNs + timeoutNs;
        if (deadline < Clock.NowNs)
            deadline = long.MaxValue;
        while (!condition())
        {
            if (Clock.NowNs >= deadline)
                return false;
            long next = Earliest()?.NextDueNs ?? long.MaxValue;
            Advance(Math.Min(Math.Max(next, Clock.NowNs), deadline));
            DeliverInterrupts();
        }
        return true;
    }

    /// <summary>Runs every event due up to <paramref name="ns"/> in time order, then sets the clock there.</summary>
    public void AdvanceTo(long ns)
    {
        EnterFromOwner();
        Advance(ns);
        DeliverInterrupts();
    }

    // Only at the kernel's level: a device event that touches hardware never takes an interrupt.
    private void DeliverInterrupts()
    {
        if (!_running && Interrupts is { HasPending: true } interrupts)
            interrupts.DeliverPending();
    }

    private void Advance(long ns)
    {
        // A device event may itself touch hardware; it must not recurse into the queue.
        if (_running)
        {
            Clock.MoveTo(Math.Max(ns, Clock.NowNs));
            return;
        }
        _running = true;
        try
        {
            while (Earliest() is { } source && source.NextDueNs <= ns)
            {
                Clock.MoveTo(Math.Max(source.NextDueNs, Clock.NowNs));
                Run(source);
            }
            Clock.MoveTo(Math.Max(ns, Clock.NowNs));
        }
        finally
        {
            _running = false;
        }
    }

    /// <summary>Runs events until every source is idle or <paramref name="limitNs"/> is reached.</summary>
    public void RunUntilIdle(long limitNs = long.MaxValue - 1)
    {
        EnterFromOwner();
        while (Earliest() is { } source && source.NextDueNs <= limitNs)
            Advance(source.NextDueNs);
    }

    private void EnterFromOwner()
    {
        int current = Environment.CurrentManagedThreadId;
        if (_owner == current)
            return;
        int owner = Interlocked.CompareExchange(ref _owner, current, 0);
        if (owner != 0 && owner != current)
            throw new InvalidOperationException(
                $"the machine is driven by thread {owner}; thread {current} entered its scheduler (one kernel thread per machine)");
    }

    private void RunOneEarly()
    {
        int pending = 0;
        foreach (var source in _sources)
            if (source.NextDueNs != long.MaxValue)
                pending++;
        if (pending == 0)
            return;
        int pick = _random.NextInt(pending);
        foreach (var source in _sources)
        {
            if (source.NextDueNs == long.MaxValue)
                continue;
            if (pick-- == 0)
            {
                _running = true;
                try
                {
                    Run(source);
                    EarlyEventsRun++;
                }
                finally
                {
                    _running = false;
                }
                return;
            }
        }
    }

    private void Run(IEventSource source)
    {
        long due = source.NextDueNs;
        source.RunNext();
        EventsRun++;
        if (source.NextDueNs == due && due <= Clock.NowNs)
            throw new InvalidOperationException($"{source.GetType().Name} ran an event but stayed due at {due} ns");
    }

    private IEventSource? Earliest()
    {
        IEventSource? best = null;
        foreach (var source in _sources)
            if (source.NextDueNs != long.MaxValue && (best is null || source.NextDueNs < best.NextDueNs))
                best = source;
        return best;
    }
}
