namespace Driver.Kernel.Iommufd;

/// <summary>One node of an <see cref="IntervalSet{T}"/>: the inclusive range start..last and what it is.</summary>
public sealed class IntervalNode<T>
{
    internal IntervalNode(ulong start, ulong last, T value)
    {
        Start = start;
        Last = last;
        Value = value;
    }

    public ulong Start { get; }

    public ulong Last { get; }

    public T Value { get; }
}

/// <summary>
/// Inclusive ranges of IOVA (Linux's interval_tree as io_pagetable uses it): areas, allowed and
/// reserved ranges. Ranges may overlap (two domains reserve the same gap); lookups return
/// nodes in start order. A sorted list plus the longest range seen keeps the first intersecting
/// node a binary search away.
/// </summary>
public sealed class IntervalSet<T>
{
    private readonly List<IntervalNode<T>> _nodes = [];
    private ulong _longest;

    public int Count => _nodes.Count;

    public bool IsEmpty => _nodes.Count == 0;

    public IReadOnlyList<IntervalNode<T>> Nodes => _nodes;

    public IntervalNode<T> Add(ulong start, ulong last, T value)
    {
        if (last < start)
            throw new ArgumentException("BUG: an interval ends before it starts");
        var node = new IntervalNode<T>(start, last, value);
        int index = LowerBound(start);
        while (index < _nodes.Count && _nodes[index].Start == start && _nodes[index].Last <= last)
            index++;
        _nodes.Insert(index, node);
        _longest = Math.Max(_longest, last - start);
        return node;
    }

    public void Remove(IntervalNode<T> node)
    {
        ArgumentNullException.ThrowIfNull(node);
        int index = LowerBound(node.Start);
        while (index < _nodes.Count && _nodes[index] != node)
            index++;
        if (index == _nodes.Count)
            throw new InvalidOperationException("BUG: removing an interval that is not in the set");
        _nodes.RemoveAt(index);
        if (_nodes.Count == 0)
            _longest = 0;
    }

    /// <summary>Removes every node whose value satisfies <paramref name="match"/>.</summary>
    public int RemoveAll(Predicate<T> match) => _nodes.RemoveAll(n => match(n.Value));

    public void Clear()
    {
        _nodes.Clear();
        _longest = 0;
    }

    /// <summary>The intersecting node with the lowest start, or null (interval_tree_iter_first).</summary>
    public IntervalNode<T>? First(ulong start, ulong last)
    {
        for (int i = FirstCandidate(start); i < _nodes.Count && _nodes[i].Start <= last; i++)
        {
            if (_nodes[i].Last >= start)
                return _nodes[i];
        }
        return null;
    }

    /// <summary>Every node intersecting start..last, in start order.</summary>
    public IEnumerable<IntervalNode<T>> Intersecting(ulong start, ulong last)
    {
        for (int i = FirstCandidate(start); i < _nodes.Count && _nodes[i].Start <= last; i++)
        {
            if (_nodes[i].Last >= start)
                yield return _nodes[i];
        }
    }

    /// <summary>
    /// The covered spans of the union of the nodes, clipped to start..last, merged where they
    /// touch: what interval_tree_for_each_span reports as used.
    /// </summary>
    public List<(ulong Start, ulong Last)> Union(ulong start, ulong last)
    {
        var spans = new List<(ulong Start, ulong Last)>();
        foreach (var node in Intersecting(start, last))
            Merge(spans, Math.Max(node.Start, start), Math.Min(node.Last, last));
        return spans;
    }

    internal static void Merge(List<(ulong Start, ulong Last)> spans, ulong start, ulong last)
    {
        if (spans.Count > 0)
        {
            var tail = spans[^1];
            if (tail.Last == ulong.MaxValue || start <= tail.Last + 1)
            {
                spans[^1] = (tail.Start, Math.Max(tail.Last, last));
                return;
            }
        }
        spans.Add((start, last));
    }

    private int FirstCandidate(ulong start) => LowerBound(start > _longest ? start - _longest : 0);

    private int LowerBound(ulong start)
    {
        int lo = 0, hi = _nodes.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_nodes[mid].Start < start)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
}
