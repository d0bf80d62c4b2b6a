namespace Driver.Platform.Iommu;

/// <summary>
/// One IOTLB line. Lines are tagged by domain and 4 KiB IOVA page; a line
/// remembers the size of the translation it came from (the I/O page, or the
/// smaller RMP-checked size), which is what invalidations must overlap.
/// </summary>
internal struct IotlbEntry
{
    public bool Present;
    public ushort DomainId;
    public ushort DeviceId;
    public byte SizeShift;
    public bool Read;
    public bool Write;
    public ulong Vpn;
    public ulong SpaPage;
    public long Epoch;

    public readonly ulong IovaStart => (Vpn << 12) & ~((1UL << SizeShift) - 1);

    public readonly ulong SpaStart => SpaPage & ~((1UL << SizeShift) - 1);

    public readonly ulong LastByte(ulong start) => start + ((1UL << SizeShift) - 1);
}
