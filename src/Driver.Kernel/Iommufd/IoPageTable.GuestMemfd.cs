using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// Areas bound to a guest_memfd (the proposal of seed 004, not upstream): their domains map the
/// file's frames page by page as the file reports them, with no pins. A domain's kind decides
/// which pages it maps: a guest-private domain (HWPT_ALLOC's proposed GuestPrivate flag, for a
/// TDI's table) the private ones, any other the shared ones. An I/O page is 2M only where the
/// file's page says so (a 2M folio whose RMP entry, on SNP, is 2M too), else 4K.
/// </summary>
public sealed partial class IoPageTable
{
    private const ulong Size2M = 2UL << 20;

    private readonly HashSet<IommuDomain> _guestPrivate = [];

    /// <summary>Whether <paramref name="domain"/> maps the private pages of guest_memfd bindings (else their shared pages).</summary>
    public bool IsGuestPrivate(IommuDomain domain) => _guestPrivate.Contains(domain);

    /// <summary>
    /// Binds IOVA to file bytes [offset, offset + length) of <paramref name="file"/> as one new area
    /// and fills every domain from the pages' current state. <paramref name="notify"/> = false skips
    /// the notifier (the test switch). EAGAIN when a fixed IOVA touches an area being invalidated;
    /// otherwise <see cref="MapPages"/>'s errno. On failure nothing is left.
    /// </summary>
    internal Errno MapGuestMemfd(IGuestMemfdPages file, ulong offset, ulong length, ref ulong iova, IommuProt prot, bool allocIova,
        bool kernelRemap, bool notify, ILogger logger, out IoptArea? mapped)
    {
        mapped = null;
        if (!allocIova && length != 0 && iova + (length - 1) >= iova && HeldOff(iova, iova + (length - 1)) != Errno.Ok)
            return Errno.EAGAIN;
        var pages = new IoptPages(IoptGuestMemfd.NoPins.Instance, offset, 1, writable: true);
        var areas = new List<IoptArea>(1);
        var err = AllocAreas([new PagesSlice(pages, 0, length)], length, ref iova, prot, allocIova, areas);
        if (err != Errno.Ok)
        {
            foreach (var made in areas)
                Areas.Remove(made.Node!);
            return err;
        }
        var area = areas[0];
        var binding = new IoptGuestMemfd(this, area, file, offset, kernelRemap, logger);
        area.GuestMemfd = binding;
        // Subscribed before the first page is read, as an MMU notifier is registered before a fault.
        if (notify)
            binding.Subscribe();
        for (int d = 0; d < _domains.Count; d++)
        {
            err = MapGuestMemfdRange(_domains[d], area, area.Iova, area.Last, allowHuge: true, empty: true);
            if (err != Errno.Ok)
            {
                for (int undo = 0; undo <= d; undo++)
                    ZapGuestMemfd(_domains[undo], area, area.Iova, area.Last);
                binding.Unsubscribe();
                Areas.Remove(area.Node!);
                return err;
            }
        }
        area.Pages = pages;
        mapped = area;
        return Errno.Ok;
    }

    /// <summary>
    /// Maps what the pages' state allows now in iova..last of a bound area, in every domain (after a
    /// conversion: by the kernel at InvalidateEnd, or by user space's Refresh). Pages already
    /// mapped stay. Where an end of the range lies in a 2M block (inside the area) that may be one 2M
    /// page again in a domain, the range grows to that block there and the block is merged; elsewhere
    /// only the range is looked at, so a 4K conversion costs 4K of work. The first errno stops it.
    /// </summary>
    internal Errno RefreshGuestMemfd(IoptArea area, ulong iova, ulong last)
    {
        ulong firstBlock = iova & ~(Size2M - 1);
        ulong lastBlock = last & ~(Size2M - 1);
        foreach (var domain in _domains)
        {
            bool first = Mergeable(domain, area, firstBlock);
            // A 4K conversion has both ends in one block: it is looked at once.
            bool second = lastBlock == firstBlock ? first : Mergeable(domain, area, lastBlock);
            ulong from = first ? firstBlock : iova;
            ulong to = second ? last | (Size2M - 1) : last;
            var err = MapGuestMemfdRange(domain, area, from, to, allowHuge: true);
            if (err != Errno.Ok)
                return err;
        }
        return Errno.Ok;
    }

    // The 2M block may be one 2M I/O page in this domain: inside the area whole, a domain with 2M pages, a 2M page's state.
    private bool Mergeable(IommuDomain domain, IoptArea area, ulong block) =>
        block >= area.Iova && block + (Size2M - 1) <= area.Last && Maps2M(domain) && Huge(area.GuestMemfd!, block, IsGuestPrivate(domain), out _);

    // The domain may hold 2M I/O pages: it has the size and the IOAS has not turned large pages off.
    private bool Maps2M(IommuDomain domain) => !DisableLargePages && (domain.PageSizeBitmap & Size2M) != 0;

    /// <summary>The bound area that covers iova..last whole, if any.</summary>
    internal IoptArea? GuestMemfdAreaCovering(ulong iova, ulong last)
    {
        var node = Areas.First(iova, iova);
        return node is { Value: { GuestMemfd: not null, Pages: not null } area } && area.Last >= last ? area : null;
    }

    /// <summary>EAGAIN when iova..last touches a bound area whose file is being invalidated (an external update is held off).</summary>
    internal Errno HeldOff(ulong iova, ulong last)
    {
        foreach (var node in Areas.Intersecting(iova, last))
        {
            if (node.Value.GuestMemfd is { } binding && InvalidatingFile(binding.File))
                return Errno.EAGAIN;
        }
        return Errno.Ok;
    }

    // Any binding of the file being invalidated: its notifiers run with the file's invalidate lock held.
    private bool InvalidatingFile(IGuestMemfdPages file)
    {
        foreach (var node in Areas.Nodes)
        {
            if (node.Value.GuestMemfd is { InvalidationsInProgress: > 0 } other && ReferenceEquals(other.File.File, file.File))
                return true;
        }
        return false;
    }

    // `empty`: the domain maps nothing in iova..last yet (a new area, a new domain), so no page is looked up before it is mapped.
    private Errno MapGuestMemfdRange(IommuDomain domain, IoptArea area, ulong iova, ulong last, bool allowHuge, bool empty = false)
    {
        var binding = area.GuestMemfd!;
        bool guestPrivate = IsGuestPrivate(domain);
        bool huge = allowHuge && Maps2M(domain);
        ulong at = iova;
        while (true)
        {
            ulong block = at & ~(Size2M - 1);
            ulong blockLast = block + (Size2M - 1);
            ulong pa = 0;
            bool whole = huge && block == at && blockLast <= last && Huge(binding, block, guestPrivate, out pa);
            var err = whole ? MapHuge(domain, area, block, pa, empty) : MapSmall(domain, area, at, guestPrivate, empty);
            if (err != Errno.Ok)
                return err;
            ulong next = whole ? blockLast + 1 : at + PageSize;
            if (next == 0 || next > last)
                return Errno.Ok;
            at = next;
        }
    }

    // The block may be one 2M I/O page: a 2M-aligned run of the file whose head page has order 9 for this domain's kind.
    private static bool Huge(IoptGuestMemfd binding, ulong block, bool guestPrivate, out ulong pa)
    {
        pa = 0;
        if ((binding.FileOffsetOf(block) & (Size2M - 1)) != 0 || !binding.Eligible(block, guestPrivate, out var head) || head.MaxOrder < 9)
            return false;
        pa = head.Pfn * PageSize;
        return (pa & (Size2M - 1)) == 0;
    }

    private Errno MapHuge(IommuDomain domain, IoptArea area, ulong block, ulong pa, bool empty)
    {
        if (empty)
            return _core.Map(domain, block, pa, Size2M, area.Prot);
        var ops = domain.Ops!;
        bool any = false, all = true;
        for (ulong page = block; page < block + Size2M; page += PageSize)
        {
            if (ops.IovaToPhys(page) != 0)
                any = true;
            else
                all = false;
        }
        if (!any)
            return _core.Map(domain, block, pa, Size2M, area.Prot);
        // Part of the block is mapped in small pieces (a cut before a conversion): fill the holes, then merge.
        if (!all)
        {
            for (ulong page = block; page < block + Size2M; page += PageSize)
            {
                if (ops.IovaToPhys(page) != 0)
                    continue;
                var err = _core.Map(domain, page, pa + (page - block), PageSize, area.Prot);
                if (err != Errno.Ok)
                    return err;
            }
        }
        return ops is IIommuDomainResize resize ? resize.Merge(block, Size2M) : Errno.Ok;
    }

    private Errno MapSmall(IommuDomain domain, IoptArea area, ulong page, bool guestPrivate, bool empty)
    {
        if (!area.GuestMemfd!.Eligible(page, guestPrivate, out var found) || (!empty && domain.Ops!.IovaToPhys(page) != 0))
            return Errno.Ok;
        return _core.Map(domain, page, found.Pfn * PageSize, PageSize, area.Prot);
    }

    /// <summary>
    /// Takes iova..last of a bound area out of <paramref name="domain"/>, flushed before it returns.
    /// A large page that crosses either end is cut first (hitless, flushed) so the rest of it keeps
    /// translating; where the domain cannot cut (or the cut has no memory) the whole large page goes
    /// and its part outside the range is mapped again at 4K.
    /// </summary>
    internal void ZapGuestMemfd(IommuDomain domain, IoptArea area, ulong iova, ulong last)
    {
        ulong from = iova, to = last;
        if (iova > area.Iova)
            from = CutAt(domain, area, iova, widenDown: true);
        if (last < area.Last)
            to = CutAt(domain, area, last + 1, widenDown: false);
        var ops = domain.Ops!;
        ulong at = from;
        while (at <= to)
        {
            ulong next;
            if (ops.IovaToPhys(at) == 0)
            {
                next = at + PageSize;
            }
            else
            {
                ulong done = _core.Unmap(domain, at, to - at + 1);
                if (done == 0)
                    throw new InvalidOperationException($"BUG: a mapped page at 0x{at:x} did not unmap");
                next = at + done;
            }
            if (next == 0 || next <= at)
                break;
            at = next;
        }
        _core.FlushQueue(domain);
        // What a widened zap took beyond the range is mapped again, small, from the unchanged state.
        if (from < iova)
            MapGuestMemfdRange(domain, area, from, iova - 1, allowHuge: false);
        if (to > last)
            MapGuestMemfdRange(domain, area, last + 1, to, allowHuge: false);
    }

    /// <summary>
    /// Cuts every 2M page of <paramref name="domain"/> in iova..last of a bound area into 4K-aligned pieces that
    /// translate as before (iommupt's Cut, one per 2M page, hitless and flushed): below 2M nothing maps more than one
    /// RMP entry's size rule allows once the run is 4K. Where the domain cannot cut, a block that may hold a 2M page
    /// (its first and last page map one linear run) is zapped, flushed, and mapped again at 4K; that remap's errno.
    /// </summary>
    internal Errno SplitGuestMemfd(IommuDomain domain, IoptArea area, ulong iova, ulong last)
    {
        var ops = domain.Ops!;
        for (ulong block = iova & ~(Size2M - 1); block <= last; block += Size2M)
        {
            ulong blockLast = block + (Size2M - 1);
            // Only a block the area covers whole was mapped at 2M.
            if (block >= area.Iova && blockLast <= area.Last && ops.IovaToPhys(block) is var pa and not 0)
            {
                var err = ops is IIommuDomainResize resize ? resize.Cut(block + PageSize) : Errno.EOPNOTSUPP;
                if (err != Errno.Ok && ops.IovaToPhys(block + (Size2M - PageSize)) == pa + (Size2M - PageSize))
                {
                    Log.GmemSplitCutFailed(_gmemLogger, block + PageSize, err);
                    ZapGuestMemfd(domain, area, block, blockLast);
                    err = MapGuestMemfdRange(domain, area, block, blockLast, allowHuge: false);
                    if (err != Errno.Ok)
                        return err;
                }
            }
            if (blockLast >= last)
                break;
        }
        return Errno.Ok;
    }

    // Cuts at `at` and returns the zap's bound there: `at` itself (or at - 1 going up), or the
    // bound of the 2M block when no cut is possible.
    private ulong CutAt(IommuDomain domain, IoptArea area, ulong at, bool widenDown)
    {
        var err = domain.Ops is IIommuDomainResize resize ? resize.Cut(at) : Errno.EOPNOTSUPP;
        if (err == Errno.Ok)
            return widenDown ? at : at - 1;
        Log.GmemCutFailed(_gmemLogger, at, err);
        return widenDown ? Math.Max(area.Iova, at & ~(Size2M - 1)) : Math.Min(area.Last, at | (Size2M - 1));
    }

    private ILogger _gmemLogger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Where the bindings' table-level messages go.</summary>
    internal ILogger GuestMemfdLogger
    {
        get => _gmemLogger;
        set => _gmemLogger = value;
    }
}
