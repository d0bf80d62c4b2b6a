namespace Driver.Hw.Interfaces;

/// <summary>
/// Time as the kernel sees it: a monotonic clock, a busy wait (ndelay/udelay) and a sleep that an
/// interrupt handler ends (wait_event_timeout).
/// </summary>
public interface IClock
{
    /// <summary>Nanoseconds since the machine started.</summary>
    long NowNs { get; }

    /// <summary>Lets <paramref name="ns"/> nanoseconds pass; devices keep running meanwhile.</summary>
    void Delay(long ns);

    /// <summary>
    /// wait_event_timeout: sleeps until <paramref name="condition"/> holds (an interrupt handler makes it
    /// true) or <paramref name="timeoutNs"/> has passed; true when the condition held. A clock that cannot
    /// sleep checks the condition every microsecond of busy waiting.
    /// </summary>
    bool WaitEventTimeout(Func<bool> condition, long timeoutNs)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentOutOfRangeException.ThrowIfNegative(timeoutNs);
        long deadline = NowNs + timeoutNs;
        if (deadline < NowNs)
            deadline = long.MaxValue;
        while (!condition())
        {
            if (NowNs >= deadline)
                return false;
            Delay(Math.Min(1_000, deadline - NowNs));
        }
        return true;
    }
}
