namespace Driver.Scenarios.Metrics;

/// <summary>
/// Durations recorded during a run, for nearest-rank percentiles. A growable array rather than a
/// histogram: a run records thousands, not millions, and exact ranks keep the result easy to check.
/// </summary>
internal sealed class Samples
{
    private long[] _values = new long[64];

    public int Count { get; private set; }

    public void Add(long value)
    {
        if (Count == _values.Length)
            Array.Resize(ref _values, _values.Length * 2);
        _values[Count++] = value;
    }

    /// <summary>The nearest-rank percentile <paramref name="p"/> (0 to 100); 0 when nothing was recorded.</summary>
    public long Percentile(double p)
    {
        if (Count == 0)
            return 0;
        var sorted = _values.AsSpan(0, Count).ToArray();
        Array.Sort(sorted);
        int rank = (int)Math.Ceiling(p / 100.0 * Count);
        return sorted[Math.Clamp(rank - 1, 0, Count - 1)];
    }

    public long Max()
    {
        long max = 0;
        for (int i = 0; i < Count; i++)
            max = Math.Max(max, _values[i]);
        return max;
    }
}
