using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Tests.Support;

/// <summary>An IOMMU driver that records what the page table asks of it.</summary>
internal sealed class RecordingDriver : IIommuPtDriver
{
    public List<(ulong Iova, ulong Last)> Flushes { get; } = [];

    public List<(ulong TopPa, int TopLevel)> TopChanges { get; } = [];

    /// <summary>Runs inside each flush, before the page table frees anything.</summary>
    public Action<ulong, ulong>? OnFlush { get; set; }

    public void FlushIotlb(ulong iova, ulong last)
    {
        lock (Flushes)
            Flushes.Add((iova, last));
        OnFlush?.Invoke(iova, last);
    }

    public void ChangeTop(ulong topPa, int topLevel)
    {
        lock (TopChanges)
            TopChanges.Add((topPa, topLevel));
    }
}
