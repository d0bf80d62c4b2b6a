namespace Driver.Kernel.Iommufd;

/// <summary>One span of a range walk: start..last, and whether nothing covers it.</summary>
public readonly record struct IovaSpan(ulong Start, ulong Last, bool IsHole);

/// <summary>
/// Walks start..last as alternating used and hole spans over the union of one or two interval
/// sets (Linux interval_tree_for_each_span and interval_tree_for_each_double_span).
/// </summary>
public static class Spans
{
    public static List<IovaSpan> Of<T>(IntervalSet<T> set, ulong start, ulong last) => Walk(set.Union(start, last), start, last);

    public static List<IovaSpan> Of<T1, T2>(IntervalSet<T1> a, IntervalSet<T2> b, ulong start, ulong last)
    {
        var used = a.Union(start, last);
        used.AddRange(b.Union(start, last));
        used.Sort((x, y) => x.Start.CompareTo(y.Start));
        var merged = new List<(ulong Start, ulong Last)>();
        foreach (var (s, l) in used)
            IntervalSet<T1>.Merge(merged, s, l);
        return Walk(merged, start, last);
    }

    private static List<IovaSpan> Walk(List<(ulong Start, ulong Last)> used, ulong start, ulong last)
    {
        var spans = new List<IovaSpan>();
        ulong cursor = start;
        bool done = false;
        foreach (var (s, l) in used)
        {
            if (s > cursor)
                spans.Add(new IovaSpan(cursor, s - 1, true));
            spans.Add(new IovaSpan(s, l, false));
            if (l == last)
            {
                done = true;
                break;
            }
            cursor = l + 1;
        }
        if (!done)
            spans.Add(new IovaSpan(cursor, last, true));
        return spans;
    }
}
