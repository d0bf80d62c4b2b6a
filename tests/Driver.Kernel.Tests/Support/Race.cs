namespace Driver.Kernel.Tests.Support;

/// <summary>Real threads released at one barrier, so that their operations collide.</summary>
internal static class Race
{
    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="threads"/> threads (argument: the thread's index),
    /// each calling the operation it is given as many times as it likes; returns the last error each saw.
    /// </summary>
    public static Errno[] Run(int threads, Action<int, Action<Errno>> work)
    {
        using var start = new Barrier(threads);
        var errors = new Errno[threads];
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            work(t, err =>
            {
                if (err != Errno.Ok)
                    errors[t] = err;
            });
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        return errors;
    }
}
