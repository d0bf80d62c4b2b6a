namespace Driver.Scenarios.Results;

/// <summary>
/// One metric of one cell over its seeds: the least, the median (the mean of the middle two for an
/// even count), the most, and the sum (for counts that must all be 0, such as violations).
/// </summary>
public readonly record struct Spread(double Min, double Median, double Max, double Total)
{
    public static Spread Of(IReadOnlyList<double> values)
    {
        ArgumentOutOfRangeException.ThrowIfZero(values.Count);
        double[] sorted = [.. values.Order()];
        int middle = sorted.Length / 2;
        double median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Spread(sorted[0], median, sorted[^1], sorted.Sum());
    }

    public bool IsPoint => Min == Max;
}
