using System.Numerics;
using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// What an IOAS maps (Linux struct io_pagetable): the areas, the allowed and reserved ranges,
/// the domains every area is mirrored into, and the accesses. A map is two-phase: the area is
/// inserted unpublished (the IOVA is taken), every domain is filled, then the pages are
/// published; a failing step undoes everything before the errno returns. One kernel thread
/// drives it, so Linux's iova and domains rw-semaphores are not needed.
/// </summary>
public sealed partial class IoPageTable
{
    public const ulong PageSize = 4096;

    /// <summary>Linux's HPAGE_SIZE: an automatic IOVA is never aligned beyond it.</summary>
    public const ulong HugePageSize = 2UL << 20;

    /// <summary>How many times an unmap asks the accesses to let go before it gives up (EDEADLOCK).</summary>
    public const int MaxUnmapTries = 100;

    private readonly IommuCore _core;
    private readonly Func<bool>? _fault;
    private readonly List<IommuDomain> _domains = [];
    private readonly List<IIoptAccess> _accesses = [];

    public IoPageTable(IommuCore core, Func<bool>? fault = null)
    {
        ArgumentNullException.ThrowIfNull(core);
        _core = core;
        _fault = fault;
    }

    public IntervalSet<IoptArea> Areas { get; } = new();

    public IntervalSet<object?> Allowed { get; } = new();

    /// <summary>Reserved ranges with their owner (a domain's aperture, a device's reserved regions).</summary>
    public IntervalSet<object> Reserved { get; } = new();

    public IReadOnlyList<IommuDomain> Domains => _domains;

    /// <summary>What IOVA, lengths and page offsets must be aligned to: 1 until a domain, a pinning access or the huge-page option says more.</summary>
    public ulong IovaAlignment { get; private set; } = 1;

    /// <summary>IOMMU_OPTION_HUGE_PAGES off: domains are filled page by page.</summary>
    public bool DisableLargePages { get; private set; }

    private bool Fault() => _fault?.Invoke() == true;

    /// <summary>
    /// Maps the slices one after the other from <paramref name="iova"/> (iopt_map_pages): with
    /// <paramref name="allocIova"/> the IOVA is chosen and returned. The slices' references move
    /// into the areas on success; on failure the caller still owns them.
    /// </summary>
    public Errno MapPages(List<PagesSlice> slices, ulong length, ref ulong iova, IommuProt prot, bool allocIova)
    {
        ArgumentNullException.ThrowIfNull(slices);
        if (!allocIova && length != 0 && iova + (length - 1) >= iova && HeldOff(iova, iova + (length - 1)) != Errno.Ok)
            return Errno.EAGAIN;
        var areas = new List<IoptArea>(slices.Count);
        var err = AllocAreas(slices, length, ref iova, prot, allocIova, areas);
        if (err == Errno.Ok)
            err = FillDomains(areas);
        if (err != Errno.Ok)
        {
            foreach (var area in areas)
                Areas.Remove(area.Node!);
            return err;
        }
        foreach (var area in areas)
            area.Pages = area.PendingPages;
        return Errno.Ok;
    }

    // iopt_alloc_area_pages: every area is allocated first, then the IOVA is checked or chosen and the areas inserted.
    private Errno AllocAreas(List<PagesSlice> slices, ulong length, ref ulong iova, IommuProt prot, bool allocIova, List<IoptArea> areas)
    {
        foreach (var _ in slices)
        {
            if (Fault())
                return Errno.ENOMEM;
        }
        if (length == 0 || (length & (IovaAlignment - 1)) != 0)
            return Errno.EINVAL;
        if (allocIova)
        {
            var first = slices[0];
            var err = AllocIova(first.Pages.StartByte + first.StartByte, length, out iova);
            if (err != Errno.Ok)
                return err;
        }
        else
        {
            var err = CheckIova(iova, length);
            if (err != Errno.Ok)
                return err;
        }
        ulong at = iova;
        foreach (var slice in slices)
        {
            if ((prot & IommuProt.Write) != 0 && !slice.Pages.Writable)
                return Errno.EPERM;
            if ((slice.StartByte % PageSize & (IovaAlignment - 1)) != 0)
                return Errno.EINVAL;
            var area = new IoptArea(slice.Pages, at, at + (slice.Length - 1), slice.StartByte, prot);
            area.Node = Areas.Add(area.Iova, area.Last, area);
            areas.Add(area);
            at += slice.Length;
        }
        return Errno.Ok;
    }

    /// <summary>
    /// Linux iopt_alloc_iova: the lowest IOVA in an allowed range (everything from one page up to
    /// the last page when none is set) outside the reserved ranges and the areas, aligned to the
    /// smaller of the length rounded up to a power of two and the lowest set bit of
    /// <paramref name="addr"/> (capped at the huge page size), keeping addr's offset in its page.
    /// Never IOVA 0. EOVERFLOW for a length of 0 or from half the space up; EINVAL when that
    /// alignment is below the table's; ENOSPC without a hole.
    /// </summary>
    public Errno AllocIova(ulong addr, ulong length, out ulong iova)
    {
        iova = 0;
        if (length == 0 || length >= ulong.MaxValue / 2)
            return Errno.EOVERFLOW;
        ulong alignment = BitOperations.RoundUpToPowerOf2(length);
        if (addr != 0)
            alignment = Math.Min(alignment, 1UL << BitOperations.TrailingZeroCount(addr));
        if (alignment >= HugePageSize)
            alignment = HugePageSize;
        if (alignment < IovaAlignment)
            return Errno.EINVAL;
        ulong pageOffset = addr % PageSize;

        const ulong from = PageSize, to = ulong.MaxValue - PageSize;
        List<IovaSpan> allowedSpans = Allowed.IsEmpty
            ? [new IovaSpan(from, to, false)]
            : Spans.Of(Allowed, from, to);
        foreach (var allowed in allowedSpans)
        {
            if (allowed.IsHole || !FitsIn(allowed.Start, allowed.Last, length, alignment, pageOffset, out _))
                continue;
            foreach (var span in Spans.Of(Reserved, Areas, allowed.Start, allowed.Last))
            {
                if (!span.IsHole || !FitsIn(span.Start, span.Last, length, alignment, pageOffset, out ulong start))
                    continue;
                iova = start;
                return Errno.Ok;
            }
        }
        return Errno.ENOSPC;
    }

    // __alloc_iova_check_range: align the start up, put the page offset back, and see if length still fits.
    private static bool FitsIn(ulong start, ulong last, ulong length, ulong alignment, ulong pageOffset, out ulong aligned)
    {
        aligned = 0;
        if (start > ulong.MaxValue - (alignment - 1))
            return false;
        ulong candidate = ((start + (alignment - 1)) & ~(alignment - 1)) | pageOffset;
        if (candidate >= last || last - candidate < length - 1)
            return false;
        aligned = candidate;
        return true;
    }

    /// <summary>iopt_check_iova: EINVAL misaligned, EOVERFLOW past the end, EINVAL on a reserved range, EEXIST on an area.</summary>
    public Errno CheckIova(ulong iova, ulong length)
    {
        if ((iova & (IovaAlignment - 1)) != 0)
            return Errno.EINVAL;
        ulong last = iova + (length - 1);
        if (last < iova)
            return Errno.EOVERFLOW;
        if (Reserved.First(iova, last) is not null)
            return Errno.EINVAL;
        if (Areas.First(iova, last) is not null)
            return Errno.EEXIST;
        return Errno.Ok;
    }

    /// <summary>
    /// Collects slices of the areas covering iova..iova+length-1 without a gap (iopt_get_pages),
    /// each with a reference on its pages: EINVAL for length 0, EOVERFLOW past the end, ENOENT
    /// for a gap or an area still being mapped.
    /// </summary>
    public Errno GetPages(ulong iova, ulong length, List<PagesSlice> slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        if (length == 0)
            return Errno.EINVAL;
        ulong last = iova + (length - 1);
        if (last < iova)
            return Errno.EOVERFLOW;
        var found = new List<PagesSlice>();
        var walked = ForEachContig(iova, last, (area, cur, end) =>
        {
            // A guest_memfd binding is not copied: held off while invalidating, refused otherwise.
            if (area.GuestMemfd is { } binding)
                return InvalidatingFile(binding.File) ? Errno.EAGAIN : Errno.EOPNOTSUPP;
            found.Add(new PagesSlice(area.Pages!, area.ByteOf(cur), end - cur + 1));
            return Errno.Ok;
        });
        if (walked is Errno.EAGAIN or Errno.EOPNOTSUPP)
            return walked;
        if (walked != Errno.Ok)
            return Errno.ENOENT;
        foreach (var slice in found)
            slice.Pages.Get();
        slices.AddRange(found);
        return Errno.Ok;
    }

    /// <summary>
    /// Runs <paramref name="visit"/> over the published areas that cover iova..last one after
    /// the other from iova (iopt_for_each_contig_area), each with the part it covers. ENOENT
    /// when a gap or an unpublished area comes first; a visit's errno stops the walk.
    /// </summary>
    internal Errno ForEachContig(ulong iova, ulong last, Func<IoptArea, ulong, ulong, Errno> visit)
    {
        ulong cur = iova;
        while (true)
        {
            var node = Areas.First(cur, cur);
            if (node is null || node.Value.Pages is null)
                return Errno.ENOENT;
            var area = node.Value;
            ulong end = Math.Min(last, area.Last);
            var err = visit(area, cur, end);
            if (err != Errno.Ok)
                return err;
            if (end == last)
                return Errno.Ok;
            cur = end + 1;
        }
    }

    /// <summary>
    /// iopt_unmap_iova: unmaps every area inside iova..iova+length-1. EINVAL for length 0,
    /// EOVERFLOW past the end; see <see cref="UnmapRange"/>.
    /// </summary>
    public Errno Unmap(ulong iova, ulong length, out ulong unmapped)
    {
        unmapped = 0;
        if (length == 0)
            return Errno.EINVAL;
        ulong last = iova + (length - 1);
        if (last < iova)
            return Errno.EOVERFLOW;
        return UnmapRange(iova, last, out unmapped);
    }

    /// <summary>Unmaps everything (Ok for an empty table).</summary>
    public Errno UnmapAll(out ulong unmapped) => UnmapRange(0, ulong.MaxValue, out unmapped);

    /// <summary>
    /// Takes down the areas in start..last, lowest first: EBUSY for one still being mapped,
    /// ENOENT for one that reaches outside the range (areas are never split). An area with
    /// access pins has its accesses told to unpin and the walk starts again, up to
    /// <see cref="MaxUnmapTries"/> times for the same area (then EDEADLOCK). Areas unmapped before
    /// an error stay unmapped and count in <paramref name="unmapped"/>.
    /// </summary>
    public Errno UnmapRange(ulong start, ulong last, out ulong unmapped)
    {
        unmapped = 0;
        int tries = 0;
        while (Areas.First(start, last) is { } node)
        {
            var area = node.Value;
            if (area.Pages is null)
                return Errno.EBUSY;
            if (area.Iova < start || area.Last > last)
                return Errno.ENOENT;
            if (area.Iova != start)
                tries = 0;
            if (area.NumAccesses != 0)
            {
                start = area.Iova;
                area.PreventAccess = true;
                foreach (var access in _accesses.ToArray())
                    access.NotifyUnmap(area.Iova, area.Length);
                if (++tries > MaxUnmapTries)
                    return Errno.EDEADLOCK;
                continue;
            }
            if (area.GuestMemfd is { } binding && InvalidatingFile(binding.File))
                return Errno.EAGAIN;
            var pages = area.Pages;
            area.Pages = null;
            UnfillDomains(area, pages, _domains.Count);
            area.GuestMemfd?.Unsubscribe();
            Areas.Remove(node);
            pages.Put();
            unmapped += area.Length;
        }
        return Errno.Ok;
    }

    /// <summary>
    /// Replaces the allowed ranges (iopt_set_allow_iova): EADDRINUSE, with the old list kept,
    /// when one of them intersects a reserved range.
    /// </summary>
    public Errno SetAllowIovas(IReadOnlyList<(ulong Start, ulong Last)> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        foreach (var (s, l) in ranges)
        {
            if (Reserved.First(s, l) is not null)
                return Errno.EADDRINUSE;
        }
        Allowed.Clear();
        foreach (var (s, l) in ranges)
            Allowed.Add(s, l, null);
        return Errno.Ok;
    }

    /// <summary>iopt_reserve_iova: EADDRINUSE over an area or an allowed range; ENOMEM when the node cannot be allocated.</summary>
    public Errno ReserveIova(ulong start, ulong last, object owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (Areas.First(start, last) is not null || Allowed.First(start, last) is not null)
            return Errno.EADDRINUSE;
        if (Fault())
            return Errno.ENOMEM;
        Reserved.Add(start, last, owner);
        return Errno.Ok;
    }

    public void RemoveReserved(object owner) => Reserved.RemoveAll(o => ReferenceEquals(o, owner));

    /// <summary>The usable IOVA: everything outside the reserved ranges (what IOAS_IOVA_RANGES reports).</summary>
    public List<IovaSpan> UsableRanges() => Spans.Of(Reserved, 0, ulong.MaxValue).FindAll(s => s.IsHole);
}
