namespace Driver.Platform.Time;

/// <summary>
/// Simulated time in nanoseconds. Only the scheduler moves it forward, so that
/// every device event due on the way runs at its own time.
/// </summary>
public sealed class SimClock
{
    /// <summary>Nanoseconds since the machine started.</summary>
    public long NowNs { get; private set; }

    internal void MoveTo(long ns)
    {
        if (ns < NowNs)
            throw new InvalidOperationException($"time runs forward only: {ns} ns < {NowNs} ns");
        NowNs = ns;
    }
}
