namespace Driver.Hw.Interfaces;

/// <summary>Time as the kernel sees it: a monotonic clock and a busy wait (ndelay/udelay).</summary>
public interface IClock
{
    /// <summary>Nanoseconds since the machine started.</summary>
    long NowNs { get; }

    /// <summary>Lets <paramref name="ns"/> nanoseconds pass; devices keep running meanwhile.</summary>
    void Delay(long ns);
}
