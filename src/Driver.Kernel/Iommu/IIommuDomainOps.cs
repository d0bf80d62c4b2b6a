using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Iommu;

/// <summary>
/// What the core asks of a paging domain (Linux struct iommu_domain_ops): the seam between the
/// core (and iommufd above it) and a driver's page table.
/// </summary>
public interface IIommuDomainOps
{
    /// <summary>Page sizes the domain maps with (bit n = 2^n bytes).</summary>
    ulong PageSizeBitmap { get; }

    /// <summary>IOVA bits the domain translates (its aperture is 0 .. 2^bits - 1).</summary>
    int VaBits { get; }

    /// <summary>Maps <paramref name="pgcount"/> pages of <paramref name="pgsize"/>; <paramref name="mapped"/> is what was done, also on failure.</summary>
    Errno MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped);

    /// <summary>Unmaps up to <paramref name="pgcount"/> pages of <paramref name="pgsize"/>; returns the bytes unmapped (0 at a hole).</summary>
    ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount, IotlbGather gather);

    /// <summary>The physical address <paramref name="iova"/> maps to, or 0.</summary>
    ulong IovaToPhys(ulong iova);

    /// <summary>Flushes what the gather collected, then frees its table frames.</summary>
    void IotlbSync(IotlbGather gather);

    /// <summary>Flushes every translation of the domain.</summary>
    Errno FlushIotlbAll();

    /// <summary>Turns hardware dirty tracking on or off; EOPNOTSUPP when the IOMMU has none.</summary>
    Errno SetDirtyTracking(bool enabled);

    /// <summary>Reports (and unless asked not to, clears) dirty bits of the range into <paramref name="bitmap"/>.</summary>
    Errno ReadAndClearDirty(ulong iova, ulong size, DirtyFlags flags, IovaBitmap bitmap);

    /// <summary>Frees the domain; no device may be attached.</summary>
    Errno Free();
}
