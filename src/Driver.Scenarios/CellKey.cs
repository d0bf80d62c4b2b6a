using Driver.Platform.Iommu;

namespace Driver.Scenarios;

/// <summary>One cell of the comparison: a strategy under a hardware size rule.</summary>
public readonly record struct CellKey(string Strategy, RmpGranularity Rule)
{
    public override string ToString() => Strategy + "/" + Rule;
}
