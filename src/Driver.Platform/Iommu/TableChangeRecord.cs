namespace Driver.Platform.Iommu;

/// <summary>
/// When the kernel last wrote each word of its I/O page tables, and the latest post of a
/// COMPLETION_WAIT that has completed, on the translation unit's epoch. A change is settled
/// once a wait posted after it has completed: from then on the hardware contract forbids
/// serving DMA from a translation cached before the change (the driver had to invalidate it
/// before that wait). Kept only while the monitors run.
/// </summary>
internal sealed class TableChangeRecord
{
    private readonly Dictionary<ulong, long> _lastWrite = [];

    /// <summary>The post epoch of the latest completed COMPLETION_WAIT (0: none yet).</summary>
    public long Settled { get; private set; }

    public void Written(ulong pa, long epoch) => _lastWrite[pa & ~7UL] = epoch;

    public void CompletionWaitDone(long postEpoch) => Settled = Math.Max(Settled, postEpoch);

    /// <summary>Whether the word at <paramref name="pa"/> changed after <paramref name="since"/> and that change is settled.</summary>
    public bool SettledChangeSince(ulong pa, long since) =>
        _lastWrite.TryGetValue(pa & ~7UL, out long epoch) && epoch > since && epoch <= Settled;
}
