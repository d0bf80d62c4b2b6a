namespace Driver.Kernel.Mm;

/// <summary>
/// The user address space's page table: virtual page number -> page frame number, kept in
/// chunks of 512 entries (one 2M region each) so that a large sparse mapping costs memory only
/// where pages are present. Not thread-safe: the address space's lock guards it.
/// </summary>
internal sealed class UserPageTable
{
    private const int ChunkShift = 9;
    private const ulong ChunkMask = (1UL << ChunkShift) - 1;
    private const ulong Present = 1UL << 63;
    private readonly Dictionary<ulong, Chunk> _chunks = [];

    public long PresentPages { get; private set; }

    public bool TryGet(ulong vpn, out ulong pfn)
    {
        if (_chunks.TryGetValue(vpn >> ChunkShift, out Chunk? chunk))
        {
            ulong entry = chunk.Entries[vpn & ChunkMask];
            pfn = entry & ~Present;
            return entry != 0;
        }
        pfn = 0;
        return false;
    }

    public void Set(ulong vpn, ulong pfn)
    {
        if (!_chunks.TryGetValue(vpn >> ChunkShift, out Chunk? chunk))
        {
            chunk = new Chunk();
            _chunks.Add(vpn >> ChunkShift, chunk);
        }
        ref ulong entry = ref chunk.Entries[vpn & ChunkMask];
        if (entry == 0)
        {
            chunk.Count++;
            PresentPages++;
        }
        entry = pfn | Present;
    }

    /// <summary>Clears the entry; true (with the page it mapped) when one was present.</summary>
    public bool Clear(ulong vpn, out ulong pfn)
    {
        pfn = 0;
        if (!_chunks.TryGetValue(vpn >> ChunkShift, out Chunk? chunk))
            return false;
        ref ulong entry = ref chunk.Entries[vpn & ChunkMask];
        if (entry == 0)
            return false;
        pfn = entry & ~Present;
        entry = 0;
        PresentPages--;
        if (--chunk.Count == 0)
            _chunks.Remove(vpn >> ChunkShift);
        return true;
    }

    /// <summary>Skips over empty chunks: the next vpn at or after <paramref name="vpn"/> that may be present.</summary>
    public ulong NextCandidate(ulong vpn) =>
        _chunks.ContainsKey(vpn >> ChunkShift) ? vpn : ((vpn >> ChunkShift) + 1) << ChunkShift;

    private sealed class Chunk
    {
        public readonly ulong[] Entries = new ulong[1 << ChunkShift];
        public int Count;
    }
}
