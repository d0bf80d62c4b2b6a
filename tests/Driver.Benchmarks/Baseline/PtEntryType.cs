namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>What one table item holds.</summary>
public enum PtEntryType
{
    /// <summary>Not present: no translation.</summary>
    Empty,

    /// <summary>A pointer to a table one level down.</summary>
    Table,

    /// <summary>A translation (an output address), possibly one of several contiguous items.</summary>
    Leaf,
}
