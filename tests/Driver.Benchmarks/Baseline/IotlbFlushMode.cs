namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>How unmap gathers ranges for the IOTLB flush (Linux's PT_FEAT_FLUSH_RANGE*).</summary>
public enum IotlbFlushMode
{
    /// <summary>Grow one range over everything unmapped until the next sync.</summary>
    FlushRange,

    /// <summary>Never let the range cover IOVA that was not unmapped: flush first when a new range leaves a gap (shadowing IOMMUs).</summary>
    FlushRangeNoGaps,
}
