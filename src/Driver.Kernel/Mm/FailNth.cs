using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Mm;

/// <summary>
/// Fault injection as Linux's fail_nth: a test arms it with n, and the n-th allocation site
/// hit from then on fails once. Every allocation site (a frame, a page pin, an object, a
/// table page) asks <see cref="ShouldFail"/> first and returns its errno (ENOMEM unless the
/// site has its own) when told to. <see cref="Hits"/> counts the sites reached since arming,
/// so a loop over n = 1, 2, ... knows it is done when a run ends with <see cref="Fired"/> false.
/// Thread-safe: sites on other threads count in the order they reach it.
/// </summary>
public sealed class FailNth
{
    private readonly ILogger _logger;
    private long _target;
    private long _hits;
    private int _fired;

    public FailNth(ILoggerFactory? loggerFactory = null)
    {
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Mm.FailNth");
    }

    /// <summary>Fails the <paramref name="n"/>-th site hit from now (1 is the next one); resets the counters.</summary>
    public void Arm(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        Interlocked.Exchange(ref _hits, 0);
        Interlocked.Exchange(ref _fired, 0);
        Interlocked.Exchange(ref _target, n);
    }

    /// <summary>No site fails any more; the counters keep their values.</summary>
    public void Disarm() => Interlocked.Exchange(ref _target, 0);

    /// <summary>True while a failure is armed and has not fired yet.</summary>
    public bool Armed => Interlocked.Read(ref _target) != 0 && Volatile.Read(ref _fired) == 0;

    /// <summary>Sites reached since the last <see cref="Arm"/>.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>True once the armed site has failed.</summary>
    public bool Fired => Volatile.Read(ref _fired) != 0;

    /// <summary>Called by every allocation site; true exactly once, at the armed site.</summary>
    public bool ShouldFail()
    {
        long target = Interlocked.Read(ref _target);
        if (target == 0)
            return false;
        long hit = Interlocked.Increment(ref _hits);
        if (hit != target || Interlocked.Exchange(ref _fired, 1) != 0)
            return false;
        Log.FaultInjected(_logger, hit);
        return true;
    }
}
