namespace Driver.Scenarios.Results;

/// <summary>
/// One <see cref="RunMetrics"/> value as every output names, reads and writes it: its key in the
/// result file, JSON and CSV, its table header, whether the terminal table shows it, and how to get
/// it from and put it into a <see cref="RunMetrics"/>. Integers stay integers in every file.
/// </summary>
public sealed class MetricField
{
    private readonly Func<RunMetrics, double> _get;
    private readonly Func<RunMetrics, double, RunMetrics> _with;

    private MetricField(string key, string header, MetricUnit unit, bool inTable, bool integer, Func<RunMetrics, double> get, Func<RunMetrics, double, RunMetrics> with, string? sampledBy)
    {
        SampledBy = sampledBy;
        Key = key;
        Header = header;
        Unit = unit;
        InTable = inTable;
        IsInteger = integer;
        _get = get;
        _with = with;
    }

    /// <summary>snake_case, as the files write it.</summary>
    public string Key { get; }

    public string Header { get; }

    public MetricUnit Unit { get; }

    /// <summary>Shown in the terminal table; every metric is in the files and the HTML page.</summary>
    public bool InTable { get; }

    public bool IsInteger { get; }

    /// <summary>
    /// For a statistic over recorded samples (a percentile, a maximum): the key of the count metric
    /// that says how many there were. Where it is 0 the value (written as 0 in the files) means
    /// "no sample", and people read "-" rather than a latency of 0.
    /// </summary>
    public string? SampledBy { get; }

    public static MetricField Integer(string key, string header, MetricUnit unit, bool inTable, Func<RunMetrics, long> get, Func<RunMetrics, long, RunMetrics> with, string? sampledBy = null) =>
        new(key, header, unit, inTable, integer: true, m => get(m), (m, v) => with(m, checked((long)v)), sampledBy);

    public static MetricField Real(string key, string header, MetricUnit unit, bool inTable, Func<RunMetrics, double> get, Func<RunMetrics, double, RunMetrics> with) =>
        new(key, header, unit, inTable, integer: false, get, with, sampledBy: null);

    public double Get(RunMetrics metrics) => _get(metrics);

    public long GetInteger(RunMetrics metrics) => IsInteger ? (long)_get(metrics) : throw new InvalidOperationException(Key + " is not an integer metric");

    public RunMetrics With(RunMetrics metrics, double value) => _with(metrics, value);
}
