namespace Driver.Kernel.Mm;

/// <summary>
/// One mapping of a user address space (vm_area_struct): [Start, End) is anonymous memory, or
/// a file's pages from <see cref="FileOffset"/> on. A file mapping is MAP_SHARED.
/// </summary>
internal sealed record Vma(ulong Start, ulong End, bool Writable, IUserMappable? File, ulong FileOffset)
{
    public ulong Length => End - Start;

    /// <summary>The part of this mapping inside [start, end), or null; the file offset follows.</summary>
    public Vma? Slice(ulong start, ulong end)
    {
        ulong s = Math.Max(start, Start);
        ulong e = Math.Min(end, End);
        return s >= e ? null : this with { Start = s, End = e, FileOffset = FileOffset + (s - Start) };
    }

    /// <summary>The file page that backs the page at <paramref name="uva"/>.</summary>
    public ulong FilePageIndex(ulong uva) => (FileOffset + (uva - Start)) >> Page.Shift;
}
