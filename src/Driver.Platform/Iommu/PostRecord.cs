namespace Driver.Platform.Iommu;

/// <summary>
/// Which Tail write made each command visible to the processor, as an epoch, so that a
/// completed COMPLETION_WAIT can tell which page-table changes it covers: exactly those
/// the kernel made before it posted the wait. Kept only while the monitors run.
/// </summary>
internal sealed class PostRecord
{
    // A driver cannot have more posts outstanding than the ring has entries; a fuzzer can.
    private const int MaxPosts = 1024;

    private readonly Queue<Post> _posts = new();

    /// <summary>Ring entries [<paramref name="from"/>, <paramref name="to"/>) became pending at <paramref name="epoch"/>.</summary>
    public void Posted(uint from, uint to, long epoch)
    {
        if (from == to)
            return;
        if (_posts.Count == MaxPosts)
            _posts.Dequeue();
        _posts.Enqueue(new Post(from, to, epoch));
    }

    /// <summary>
    /// The processor ran the entry at <paramref name="offset"/>: the epoch of the Tail write that
    /// posted it, or null when no recorded post holds it (the driver moved Head or the ring).
    /// </summary>
    public long? Executed(uint offset, uint mask)
    {
        while (_posts.TryPeek(out var post))
        {
            if (post.Holds(offset, mask))
            {
                if (((offset + 1) & mask) == post.To)
                    _posts.Dequeue();
                return post.Epoch;
            }
            _posts.Dequeue();
        }
        return null;
    }

    /// <summary>The ring moved (a Base write): nothing posted before is pending any more.</summary>
    public void Clear() => _posts.Clear();

    private readonly record struct Post(uint From, uint To, long Epoch)
    {
        // [From, To) on a ring of mask + 1 entries, wrapping.
        public bool Holds(uint offset, uint mask) => ((offset - From) & mask) < ((To - From) & mask);
    }
}
