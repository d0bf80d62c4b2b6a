namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>
/// What an unmap leaves to flush: one IOVA range and the table frames that may
/// be freed only after the IOTLB no longer refers to them. Pass it to
/// <see cref="IommuPageTable{TFormat}.IotlbSync"/>.
/// </summary>
public sealed class IotlbGather
{
    private readonly List<ulong> _freeList = [];

    /// <summary>First IOVA of the gathered range.</summary>
    public ulong Start { get; private set; } = ulong.MaxValue;

    /// <summary>Last IOVA of the gathered range (inclusive).</summary>
    public ulong End { get; private set; }

    public bool HasRange => Start <= End;

    /// <summary>Table frames waiting for the flush.</summary>
    public IReadOnlyList<ulong> FreeList => _freeList;

    public bool IsEmpty => !HasRange && _freeList.Count == 0;

    /// <summary>Widens the range to cover <paramref name="length"/> bytes at <paramref name="iova"/>.</summary>
    public void AddRange(ulong iova, ulong length)
    {
        if (length == 0)
            throw new ArgumentOutOfRangeException(nameof(length), "an empty range is a bug");
        Start = Math.Min(Start, iova);
        End = Math.Max(End, iova + (length - 1));
    }

    /// <summary>True when a range is gathered and the new one neither overlaps nor touches it.</summary>
    public bool IsDisjoint(ulong iova, ulong length)
    {
        if (!HasRange)
            return false;
        ulong last = iova + (length - 1);
        return (End != ulong.MaxValue && iova > End + 1) || (Start != 0 && last < Start - 1);
    }

    internal void AddFreed(List<ulong> frames) => _freeList.AddRange(frames);

    internal void Reset()
    {
        Start = ulong.MaxValue;
        End = 0;
        _freeList.Clear();
    }
}
