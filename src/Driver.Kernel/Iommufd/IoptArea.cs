using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// One mapping of an IOAS (Linux struct iopt_area): IOVA <see cref="Iova"/>..<see cref="Last"/>
/// over bytes of an <see cref="IoptPages"/> from <see cref="StartByte"/> on. Until the map that
/// made it has filled every domain, <see cref="Pages"/> is null: the IOVA is reserved but the
/// area is not there yet (UNMAP says EBUSY).
/// </summary>
public sealed class IoptArea
{
    internal IoptArea(IoptPages pages, ulong iova, ulong last, ulong startByte, IommuProt prot)
    {
        PendingPages = pages;
        Iova = iova;
        Last = last;
        StartByte = startByte;
        Prot = prot;
    }

    public ulong Iova { get; }

    public ulong Last { get; }

    public ulong Length => Last - Iova + 1;

    /// <summary>Byte offset of <see cref="Iova"/> in the pages.</summary>
    public ulong StartByte { get; }

    /// <summary>Offset of the first byte in its page (non-zero only without a domain).</summary>
    public ulong PageOffset => StartByte % 4096;

    public IommuProt Prot { get; }

    /// <summary>The guest_memfd binding when the area maps one (proposed in seed 004): its pages are never pinned.</summary>
    public IoptGuestMemfd? GuestMemfd { get; internal set; }

    /// <summary>The pages, once the area is published.</summary>
    public IoptPages? Pages { get; internal set; }

    internal IoptPages PendingPages { get; }

    internal IntervalNode<IoptArea>? Node { get; set; }

    /// <summary>Whether the area holds its pages for the domains (it does while any domain is attached).</summary>
    internal bool HeldForDomains { get; set; }

    /// <summary>In-kernel access pins in the area.</summary>
    public int NumAccesses { get; internal set; }

    /// <summary>An unmap is waiting for the accesses to let go: new pins are refused.</summary>
    public bool PreventAccess { get; internal set; }

    /// <summary>First page index of the area in its pages.</summary>
    public int FirstIndex => (int)(StartByte / 4096);

    /// <summary>Last page index of the area in its pages.</summary>
    public int LastIndex => (int)((StartByte + Length - 1) / 4096);

    /// <summary>The page index holding <paramref name="iova"/>.</summary>
    public int IndexOf(ulong iova) => (int)((StartByte + (iova - Iova)) / 4096);

    /// <summary>The byte offset in the pages of <paramref name="iova"/>.</summary>
    public ulong ByteOf(ulong iova) => StartByte + (iova - Iova);
}
