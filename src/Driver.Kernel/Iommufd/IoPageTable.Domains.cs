using System.Numerics;
using Driver.Kernel.Iommu;

namespace Driver.Kernel.Iommufd;

public sealed partial class IoPageTable
{
    /// <summary>The aperture of a domain: its geometry, or 0 .. 2^VaBits - 1.</summary>
    public static (ulong Start, ulong End) ApertureOf(IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (domain.Ops is IIommuDomainGeometry geometry)
            return (geometry.ApertureStart, geometry.ApertureEnd);
        int bits = domain.Ops!.VaBits;
        return (0, bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1);
    }

    /// <summary>
    /// iopt_table_add_domain: the alignment grows to the domain's smallest page (EINVAL above a
    /// page; EADDRINUSE when an area does not conform), IOVA outside its aperture is reserved
    /// (EADDRINUSE over an area), and every published area is mapped into it. On failure the
    /// table is as before.
    /// </summary>
    public Errno AddDomain(IommuDomain domain) => AddDomain(domain, guestPrivate: false);

    /// <summary>
    /// As <see cref="AddDomain(IommuDomain)"/>; a <paramref name="guestPrivate"/> domain maps the private
    /// pages of guest_memfd bindings instead of their shared ones (the proposed HWPT_ALLOC GuestPrivate flag).
    /// </summary>
    public Errno AddDomain(IommuDomain domain, bool guestPrivate)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (_domains.Contains(domain))
            return Errno.EEXIST;
        if (guestPrivate)
            _guestPrivate.Add(domain);
        var added = AddDomainChecked(domain);
        if (added != Errno.Ok)
            _guestPrivate.Remove(domain);
        return added;
    }

    private Errno AddDomainChecked(IommuDomain domain)
    {
        ulong alignment = Math.Max(1UL << BitOperations.TrailingZeroCount(domain.Ops!.PageSizeBitmap), IovaAlignment);
        if (alignment > PageSize)
            return Errno.EINVAL;
        if (alignment != IovaAlignment)
        {
            var err = CheckAlignment(alignment);
            if (err != Errno.Ok)
                return err;
        }
        var (start, end) = ApertureOf(domain);
        var rc = Errno.Ok;
        if (start != 0)
            rc = ReserveIova(0, start - 1, domain);
        if (rc == Errno.Ok && end != ulong.MaxValue)
            rc = ReserveIova(end + 1, ulong.MaxValue, domain);
        if (rc == Errno.Ok && Fault())
            rc = Errno.ENOMEM;
        if (rc == Errno.Ok)
            rc = FillDomain(domain);
        if (rc != Errno.Ok)
        {
            RemoveReserved(domain);
            return rc;
        }
        IovaAlignment = alignment;
        _domains.Add(domain);
        return Errno.Ok;
    }

    /// <summary>iopt_table_remove_domain: every area is unmapped from the domain; with the last domain gone the areas let go of their pins.</summary>
    public void RemoveDomain(IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (!_domains.Remove(domain))
            throw new InvalidOperationException("BUG: removing a domain the table does not have");
        foreach (var node in Areas.Nodes)
        {
            var area = node.Value;
            if (area.Pages is null)
                continue;
            if (area.GuestMemfd is not null)
            {
                ZapGuestMemfd(domain, area, area.Iova, area.Last);
                continue;
            }
            UnmapArea(domain, area, area.Length);
            if (_domains.Count == 0 && area.HeldForDomains)
            {
                area.HeldForDomains = false;
                area.Pages.Release(area.FirstIndex, area.LastIndex);
            }
        }
        _guestPrivate.Remove(domain);
        RemoveReserved(domain);
        RecalculateAlignment();
    }

    /// <summary>IOMMU_OPTION_HUGE_PAGES = 0: EINVAL once domains hold mappings; EADDRINUSE when an area is not page aligned.</summary>
    public Errno SetDisableLargePages()
    {
        if (DisableLargePages)
            return Errno.Ok;
        if (_domains.Count != 0 && !Areas.IsEmpty)
            return Errno.EINVAL;
        DisableLargePages = true;
        var err = RecalculateAlignment();
        if (err != Errno.Ok)
            DisableLargePages = false;
        return err;
    }

    /// <summary>IOMMU_OPTION_HUGE_PAGES = 1: later fills may use large pages again.</summary>
    public void EnableLargePages()
    {
        DisableLargePages = false;
        RecalculateAlignment();
    }

    // iopt_calculate_iova_alignment: the largest need of the huge-page option, the domains and the accesses.
    private Errno RecalculateAlignment()
    {
        ulong alignment = DisableLargePages ? PageSize : 1;
        foreach (var domain in _domains)
            alignment = Math.Max(alignment, 1UL << BitOperations.TrailingZeroCount(domain.Ops!.PageSizeBitmap));
        foreach (var access in _accesses)
            alignment = Math.Max(alignment, access.IovaAlignment);
        return SetAlignment(alignment);
    }

    // A raise needs every area to conform already (EADDRINUSE, nothing changed); a fall is always allowed.
    private Errno SetAlignment(ulong alignment)
    {
        if (alignment > IovaAlignment)
        {
            var err = CheckAlignment(alignment);
            if (err != Errno.Ok)
                return err;
        }
        IovaAlignment = alignment;
        return Errno.Ok;
    }

    // iopt_check_iova_alignment: every area must already conform to the new alignment.
    private Errno CheckAlignment(ulong alignment)
    {
        ulong mask = alignment - 1;
        foreach (var node in Areas.Nodes)
        {
            var area = node.Value;
            if ((area.Iova & mask) != 0 || (area.Length & mask) != 0 || (area.PageOffset & mask) != 0)
                return Errno.EADDRINUSE;
        }
        return Errno.Ok;
    }

    // Fills a new domain from every published area; on failure what was mapped is unmapped and what was pinned for it is unpinned.
    private Errno FillDomain(IommuDomain domain)
    {
        var done = new List<IoptArea>();
        foreach (var node in Areas.Nodes)
        {
            var area = node.Value;
            if (area.Pages is null)
                continue;
            if (area.GuestMemfd is not null)
            {
                var mapped = MapGuestMemfdRange(domain, area, area.Iova, area.Last, allowHuge: true, empty: true);
                if (mapped != Errno.Ok)
                {
                    ZapGuestMemfd(domain, area, area.Iova, area.Last);
                    UndoFill(domain, done);
                    return mapped;
                }
                done.Add(area);
                continue;
            }
            bool pinned = false;
            var err = Errno.Ok;
            if (!area.HeldForDomains)
            {
                err = area.Pages.Hold(area.FirstIndex, area.LastIndex, write: false);
                pinned = err == Errno.Ok;
            }
            if (err == Errno.Ok)
            {
                area.HeldForDomains = true;
                err = MapArea(domain, area, area.Pages);
                if (err != Errno.Ok && pinned)
                {
                    area.HeldForDomains = false;
                    area.Pages.Release(area.FirstIndex, area.LastIndex);
                }
            }
            if (err != Errno.Ok)
            {
                UndoFill(domain, done);
                return err;
            }
            done.Add(area);
        }
        return Errno.Ok;
    }

    private void UndoFill(IommuDomain domain, List<IoptArea> done)
    {
        foreach (var filled in done)
        {
            if (filled.GuestMemfd is not null)
            {
                ZapGuestMemfd(domain, filled, filled.Iova, filled.Last);
                continue;
            }
            UnmapArea(domain, filled, filled.Length);
            if (_domains.Count == 0)
            {
                filled.HeldForDomains = false;
                filled.Pages!.Release(filled.FirstIndex, filled.LastIndex);
            }
        }
    }

    // iopt_fill_domains_pages: a new area goes into every domain, or into none.
    private Errno FillDomains(List<IoptArea> areas)
    {
        if (_domains.Count == 0)
            return Errno.Ok;
        for (int i = 0; i < areas.Count; i++)
        {
            var area = areas[i];
            var pages = area.PendingPages;
            var err = pages.Hold(area.FirstIndex, area.LastIndex, write: false);
            if (err == Errno.Ok)
            {
                area.HeldForDomains = true;
                for (int d = 0; d < _domains.Count && err == Errno.Ok; d++)
                {
                    err = MapArea(_domains[d], area, pages);
                    if (err != Errno.Ok)
                        UnfillDomains(area, pages, d);
                }
            }
            if (err != Errno.Ok)
            {
                for (int j = 0; j < i; j++)
                    UnfillDomains(areas[j], areas[j].PendingPages, _domains.Count);
                return err;
            }
        }
        return Errno.Ok;
    }

    // Unmaps the area from the first `count` domains and lets go of its pins.
    private void UnfillDomains(IoptArea area, IoptPages pages, int count)
    {
        if (area.GuestMemfd is not null)
        {
            for (int d = 0; d < count; d++)
                ZapGuestMemfd(_domains[d], area, area.Iova, area.Last);
            return;
        }
        for (int d = 0; d < count; d++)
            UnmapArea(_domains[d], area, area.Length);
        if (area.HeldForDomains)
        {
            area.HeldForDomains = false;
            pages.Release(area.FirstIndex, area.LastIndex);
        }
    }

    // Maps the area's pinned pages in runs of contiguous frames (each 4K page alone with large pages off).
    private Errno MapArea(IommuDomain domain, IoptArea area, IoptPages pages)
    {
        int first = area.FirstIndex, last = area.LastIndex;
        ulong iova = area.Iova;
        int index = first;
        while (index <= last)
        {
            ulong pfn = pages.PfnOf(index);
            int run = 1;
            if (!DisableLargePages)
            {
                while (index + run <= last && pages.PfnOf(index + run) == pfn + (ulong)run)
                    run++;
            }
            ulong bytes = (ulong)run * PageSize;
            var err = _core.Map(domain, iova, pfn * PageSize, bytes, area.Prot);
            if (err != Errno.Ok)
            {
                if (iova != area.Iova)
                    UnmapArea(domain, area, iova - area.Iova);
                return err;
            }
            iova += bytes;
            index += run;
        }
        return Errno.Ok;
    }

    private void UnmapArea(IommuDomain domain, IoptArea area, ulong length)
    {
        ulong done = _core.Unmap(domain, area.Iova, length);
        if (done != length)
            throw new InvalidOperationException($"BUG: domain unmapped 0x{done:x} of 0x{length:x} at 0x{area.Iova:x}");
    }
}
