namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>
    /// Flushes what <paramref name="gather"/> collected, then frees its table
    /// frames: only now can no walk reach them. Leaves the gather empty.
    /// </summary>
    public void IotlbSync(IotlbGather gather)
    {
        ArgumentNullException.ThrowIfNull(gather);
        // Frames only ever join a gather with the range that covered them.
        if (gather.HasRange)
            _driver.FlushIotlb(gather.Start, gather.End);
        foreach (ulong frame in gather.FreeList)
            _allocator.Free(frame);
        gather.Reset();
    }

    /// <summary>Adds a removed range and its freed tables to a gather, as the flush mode asks.</summary>
    private void GatherRange(IotlbGather gather, ulong iova, ulong length, List<ulong>? freed)
    {
        // Flushing a range with a gap would hit IOVA that was not unmapped: sync what is there first.
        if (_flushMode == IotlbFlushMode.FlushRangeNoGaps && gather.IsDisjoint(iova, length))
            IotlbSync(gather);
        gather.AddRange(iova, length);
        if (freed is not null)
            gather.AddFreed(freed);
    }
}
