namespace Driver.Platform.Iommu;

/// <summary>What a page-directory cache line is tagged by: domain, table level and the IOVA prefix the entry decodes.</summary>
internal readonly record struct PdeTag(ushort DomainId, byte Level, ulong Prefix)
{
    public static PdeTag Of(ushort domainId, int level, ulong iova) => new(domainId, (byte)level, PdeEntry.Prefix(level, iova));
}

/// <summary>
/// One page-directory cache line: a non-leaf entry met on a walk, with where
/// the walk continues and the permissions ANDed down to it. Only an
/// invalidation with the PDE bit drops it, so a driver that frees or rewrites
/// a table without it walks the old one.
/// </summary>
internal readonly record struct PdeEntry(PdeTag Tag, ulong NextTable, byte NextLevel, bool Read, bool Write, long Epoch)
    : ICacheLine<PdeTag>
{
    /// <summary>Bytes of IOVA one entry of a level-<paramref name="level"/> table covers, as a shift.</summary>
    public static int EntryShift(int level) => 12 + (9 * (level - 1));

    // Levels go up to 6, whose entries cover 2^57 bytes: every shift here is below 64.
    public static ulong Prefix(int level, ulong iova) => iova >> EntryShift(level);

    public static ulong SetHash(in PdeTag tag) => tag.Prefix ^ ((ulong)tag.Level << 5) ^ ((ulong)tag.DomainId * 0x9E37UL);

    public static bool SameTag(in PdeTag a, in PdeTag b) => a.Prefix == b.Prefix && a.Level == b.Level && a.DomainId == b.DomainId;

    /// <summary>The entries of one domain that decode any IOVA in [First, Last].</summary>
    public readonly record struct ByIova(ushort DomainId, ulong First, ulong Last) : ICacheFilter<PdeEntry>
    {
        public bool Drops(in PdeEntry line)
        {
            int shift = EntryShift(line.Tag.Level);
            ulong start = line.Tag.Prefix << shift;
            ulong end = start + ((1UL << shift) - 1);
            return line.Tag.DomainId == DomainId && start <= Last && end >= First;
        }
    }
}
