namespace Driver.Kernel.Kvm;

/// <summary>
/// Which pages of a guest_memfd are shared and which private, as a sorted list of ranges of
/// page indices that covers the whole file, with adjacent ranges of the same state always
/// merged (the maple tree of the in-place conversion series). Not thread-safe: the file's
/// invalidate lock guards it.
/// </summary>
public sealed class ShareabilityRanges
{
    private readonly List<Range> _ranges;

    /// <summary>[0, <paramref name="pages"/>) all shared or all private.</summary>
    public ShareabilityRanges(ulong pages, bool shared)
    {
        Pages = pages;
        _ranges = pages == 0 ? [] : [new Range(0, pages, shared)];
    }

    private ShareabilityRanges(ShareabilityRanges other)
    {
        Pages = other.Pages;
        _ranges = [.. other._ranges];
    }

    /// <summary>One range: pages [Start, End) with one state.</summary>
    public readonly record struct Range(ulong Start, ulong End, bool Shared);

    public ulong Pages { get; }

    /// <summary>The ranges, in order, none empty, no two neighbours alike.</summary>
    public IReadOnlyList<Range> Ranges => _ranges;

    /// <summary>A copy to restore on rollback.</summary>
    public ShareabilityRanges Clone() => new(this);

    /// <summary>Whether page <paramref name="index"/> is shared.</summary>
    public bool IsShared(ulong index) => _ranges[Find(index)].Shared;

    /// <summary>True when every page of [start, end) has the state <paramref name="shared"/>.</summary>
    public bool All(ulong start, ulong end, bool shared)
    {
        for (int i = Find(start); i < _ranges.Count && _ranges[i].Start < end; i++)
        {
            if (_ranges[i].Shared != shared)
                return false;
        }
        return true;
    }

    /// <summary>Gives [start, end) the state <paramref name="shared"/>, splitting and merging ranges.</summary>
    public void Set(ulong start, ulong end, bool shared)
    {
        if (start >= end)
            return;
        if (end > Pages)
            throw new ArgumentOutOfRangeException(nameof(end), "the range lies past the end of the file");
        int first = Find(start);
        int last = Find(end - 1);
        Range head = _ranges[first];
        Range tail = _ranges[last];
        var replacement = new List<Range>(3);
        if (head.Start < start)
            replacement.Add(head with { End = start });
        replacement.Add(new Range(start, end, shared));
        if (tail.End > end)
            replacement.Add(tail with { Start = end });
        _ranges.RemoveRange(first, last - first + 1);
        _ranges.InsertRange(first, replacement);
        // Merge around the new range: at most one neighbour on each side can now match.
        int at = first + (head.Start < start ? 1 : 0);
        if (at + 1 < _ranges.Count && _ranges[at + 1].Shared == shared)
        {
            _ranges[at] = _ranges[at] with { End = _ranges[at + 1].End };
            _ranges.RemoveAt(at + 1);
        }
        if (at > 0 && _ranges[at - 1].Shared == shared)
        {
            _ranges[at - 1] = _ranges[at - 1] with { End = _ranges[at].End };
            _ranges.RemoveAt(at);
        }
    }

    private int Find(ulong index)
    {
        if (index >= Pages)
            throw new ArgumentOutOfRangeException(nameof(index), "the page lies past the end of the file");
        int lo = 0;
        int hi = _ranges.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (_ranges[mid].Start <= index)
                lo = mid;
            else
                hi = mid - 1;
        }
        return lo;
    }
}
