namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>One bit per page of an IOVA window: where dirty tracking reports writes.</summary>
public sealed class IovaBitmap
{
    private readonly ulong[] _bits;

    public IovaBitmap(ulong iova, ulong length, int pageLg2 = PtGeometry.GranuleLg2)
    {
        if (length == 0 || pageLg2 is < 0 or > 63 || ((iova | length) & ((1UL << pageLg2) - 1)) != 0)
            throw new ArgumentException("the window must be whole, non-empty pages");
        Iova = iova;
        Length = length;
        PageLg2 = pageLg2;
        Pages = length >> pageLg2;
        _bits = new ulong[(Pages + 63) / 64];
    }

    public ulong Iova { get; }

    public ulong Length { get; }

    public int PageLg2 { get; }

    public ulong Pages { get; }

    /// <summary>Marks every page that overlaps iova..iova+length-1, clipped to the window.</summary>
    public void Set(ulong iova, ulong length)
    {
        if (length == 0)
            return;
        ulong last = iova + (length - 1);
        ulong windowLast = Iova + (Length - 1);
        if (last < Iova || iova > windowLast)
            return;
        ulong first = (Math.Max(iova, Iova) - Iova) >> PageLg2;
        ulong end = (Math.Min(last, windowLast) - Iova) >> PageLg2;
        for (ulong page = first; page <= end; page++)
            _bits[page / 64] |= 1UL << (int)(page % 64);
    }

    /// <summary>Whether the page holding <paramref name="iova"/> is marked.</summary>
    public bool IsSet(ulong iova)
    {
        if (iova < Iova || iova - Iova >= Length)
            return false;
        ulong page = (iova - Iova) >> PageLg2;
        return (_bits[page / 64] & (1UL << (int)(page % 64))) != 0;
    }

    /// <summary>How many pages are marked.</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (ulong word in _bits)
            count += ulong.PopCount(word);
        return count;
    }
}
