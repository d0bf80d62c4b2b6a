namespace Driver.Platform.Iommu;

/// <summary>What an IOTLB line is tagged by: the domain and the 4 KiB IOVA page.</summary>
internal readonly record struct IotlbTag(ushort DomainId, ulong Vpn);

/// <summary>
/// One IOTLB line. Lines are tagged by domain and 4 KiB IOVA page; a line
/// remembers the size of the translation it came from (the I/O page, or the
/// smaller RMP-checked size), which is what invalidations must overlap, and
/// the ASID the RMP check passed for (0 = an untrusted request's), so a line
/// filled for one guest's trusted DMA serves no other request kind. With
/// dirty tracking on, a line also remembers whether its leaf PTE had D set
/// (<paramref name="DirtyKnown"/>); true when no D update is asked for.
/// </summary>
internal readonly record struct IotlbEntry(ushort DomainId, ulong Vpn, byte SizeShift, bool Read, bool Write, ulong SpaPage, long Epoch, ushort Asid = 0,
    bool DirtyKnown = true)
    : ICacheLine<IotlbTag>
{
    public IotlbTag Tag => new(DomainId, Vpn);

    public ulong IovaStart => (Vpn << 12) & ~((1UL << SizeShift) - 1);

    public ulong SpaStart => SpaPage & ~((1UL << SizeShift) - 1);

    public static ulong SetHash(in IotlbTag tag) => tag.Vpn ^ ((ulong)tag.DomainId * 0x9E37UL);

    public static bool SameTag(in IotlbTag a, in IotlbTag b) => a.Vpn == b.Vpn && a.DomainId == b.DomainId;

    public ulong LastByte(ulong start) => start + ((1UL << SizeShift) - 1);

    /// <summary>The lines of one domain whose translation overlaps [First, Last] of IOVA space.</summary>
    public readonly record struct ByIova(ushort DomainId, ulong First, ulong Last) : ICacheFilter<IotlbEntry>
    {
        public bool Drops(in IotlbEntry line)
        {
            ulong start = line.IovaStart;
            return line.DomainId == DomainId && start <= Last && line.LastByte(start) >= First;
        }
    }

    /// <summary>The lines whose system physical range overlaps [First, Last] (RMP changes).</summary>
    public readonly record struct BySpa(ulong First, ulong Last) : ICacheFilter<IotlbEntry>
    {
        public bool Drops(in IotlbEntry line)
        {
            ulong start = line.SpaStart;
            return start <= Last && line.LastByte(start) >= First;
        }
    }
}
