namespace Driver.Scenarios.Results;

/// <summary>What a metric's number counts, for the table's headers and the charts' axes.</summary>
public enum MetricUnit
{
    Count,

    /// <summary>Simulated nanoseconds; shown as microseconds.</summary>
    Nanoseconds,

    /// <summary>0 to 1; shown as a percentage.</summary>
    Ratio,

    GigabytesPerSecond,
}
