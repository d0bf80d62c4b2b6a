using System.Numerics;

namespace Driver.Kernel.Iommu;

/// <summary>
/// IOVA space of one DMA domain (Linux's iova allocator as dma-iommu uses it): sizes are rounded
/// up to a power of two and aligned to it, and space is taken top-down below the limit, so that
/// consecutive mappings sit next to each other. Page 0 is never handed out.
/// </summary>
public sealed class IovaAllocator
{
    private const ulong Granule = 4096;

    // Allocated ranges, start -> last (inclusive), in address order.
    private readonly SortedDictionary<ulong, ulong> _ranges = [];

    /// <param name="limit">One past the highest IOVA to hand out.</param>
    public IovaAllocator(ulong limit)
    {
        if (limit <= 2 * Granule)
            throw new ArgumentOutOfRangeException(nameof(limit), "BUG: no IOVA space");
        Limit = limit;
    }

    public ulong Limit { get; }

    public int Count => _ranges.Count;

    /// <summary>ENOSPC when no aligned hole of the rounded size is left.</summary>
    public Errno Alloc(ulong size, out ulong iova)
    {
        iova = 0;
        if (size == 0 || size > Limit / 2)
            return Errno.EINVAL;
        ulong rounded = Math.Max(Granule, BitOperations.RoundUpToPowerOf2(size));
        ulong ceiling = Limit;
        foreach (var (start, last) in _ranges.Reverse())
        {
            if (TryFit(last + 1, ceiling, rounded, out iova))
                return Insert(iova, rounded);
            ceiling = start;
        }
        return TryFit(Granule, ceiling, rounded, out iova) ? Insert(iova, rounded) : Errno.ENOSPC;
    }

    /// <summary>Hands back the range that starts at <paramref name="iova"/>; freeing anything else is a bug.</summary>
    public void Free(ulong iova)
    {
        if (!_ranges.Remove(iova))
            throw new InvalidOperationException($"BUG: freeing IOVA 0x{iova:x}, which was not allocated");
    }

    /// <summary>The size the allocation at <paramref name="iova"/> was rounded to, or 0.</summary>
    public ulong SizeOf(ulong iova) => _ranges.TryGetValue(iova, out ulong last) ? last - iova + 1 : 0;

    // The highest aligned block of `size` inside [floor, ceiling).
    private static bool TryFit(ulong floor, ulong ceiling, ulong size, out ulong iova)
    {
        iova = 0;
        if (ceiling < size)
            return false;
        ulong candidate = (ceiling - size) & ~(size - 1);
        if (candidate < floor)
            return false;
        iova = candidate;
        return true;
    }

    private Errno Insert(ulong iova, ulong size)
    {
        _ranges.Add(iova, iova + size - 1);
        return Errno.Ok;
    }
}
