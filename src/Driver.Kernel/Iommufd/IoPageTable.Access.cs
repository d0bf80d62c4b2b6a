using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Iommufd;

public sealed partial class IoPageTable
{
    public IReadOnlyList<IIoptAccess> Accesses => _accesses;

    /// <summary>Accesses one table holds at most: Linux allocates their list ids in xa_limit_16b.</summary>
    public const int MaxAccesses = 1 << 16;

    /// <summary>
    /// iopt_add_access: EBUSY when the table already holds <see cref="MaxAccesses"/> accesses (no
    /// free list id), ENOMEM when the list entry cannot be allocated; EADDRINUSE, with the access
    /// not added, when an area does not meet the alignment the access raises the table to.
    /// </summary>
    public Errno AddAccess(IIoptAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (_accesses.Count >= MaxAccesses)
            return Errno.EBUSY;
        if (Fault())
            return Errno.ENOMEM;
        // The table's alignment is already the largest want of everything else: only this access can raise it.
        var err = SetAlignment(Math.Max(IovaAlignment, access.IovaAlignment));
        if (err != Errno.Ok)
            return err;
        _accesses.Add(access);
        return Errno.Ok;
    }

    /// <summary>iopt_remove_access: the alignment falls back to what the domains and the other accesses need.</summary>
    public void RemoveAccess(IIoptAccess access)
    {
        if (!_accesses.Remove(access))
            throw new InvalidOperationException("BUG: removing an access the table does not have");
        RecalculateAlignment();
    }

    /// <summary>Pages a pin of iova..iova+length-1 returns: one per 4K page the range touches.</summary>
    public static int PagesOf(ulong iova, ulong length) => (int)(((iova + length - 1) / PageSize) - (iova / PageSize) + 1);

    /// <summary>
    /// iommufd_access_pin_pages: pins the pages behind iova..iova+length-1 and returns their
    /// PFNs. EINVAL for length 0, too small an output, an area being unmapped, or a range whose
    /// memory does not start on a page or, where it runs on into the next area, does not end an
    /// area on a page end (iopt_area_contig_is_aligned; the length itself may end anywhere);
    /// EOVERFLOW past the end; EPERM for a write pin of an area without WRITEABLE or a read pin of
    /// one without READABLE; ENOENT for a gap. All or nothing.
    /// </summary>
    public Errno AccessPin(ulong iova, ulong length, bool write, Span<ulong> pfns)
    {
        if (length == 0)
            return Errno.EINVAL;
        ulong last = iova + (length - 1);
        if (last < iova)
            return Errno.EOVERFLOW;
        if (pfns.Length < PagesOf(iova, length))
            return Errno.EINVAL;
        var pinned = new List<(IoptArea Area, int First, int Last)>();
        var output = new ulong[PagesOf(iova, length)];
        ulong firstPage = iova / PageSize;
        var err = ForEachContig(iova, last, (area, cur, end) =>
        {
            if (area.PreventAccess || !ContigIsAligned(area, cur, end != last))
                return Errno.EINVAL;
            if (area.GuestMemfd is not null)
                return Errno.EOPNOTSUPP;
            if (!Allows(area, write))
                return Errno.EPERM;
            int first = area.IndexOf(cur), lastIndex = area.IndexOf(end);
            if (Fault())
                return Errno.ENOMEM;
            var rc = area.Pages!.Hold(first, lastIndex, write);
            if (rc != Errno.Ok)
                return rc;
            area.NumAccesses++;
            pinned.Add((area, first, lastIndex));
            // One PFN per IOVA page; without a domain two areas may share the page at their boundary.
            for (ulong at = cur; ;)
            {
                output[(at / PageSize) - firstPage] = area.Pages.PfnOf(area.IndexOf(at));
                ulong next = ((at / PageSize) + 1) * PageSize;
                if (next == 0 || next > end)
                    break;
                at = next;
            }
            return Errno.Ok;
        });
        if (err != Errno.Ok)
        {
            foreach (var (area, first, lastIndex) in pinned)
            {
                area.NumAccesses--;
                area.Pages!.Release(first, lastIndex);
            }
            return err;
        }
        output.CopyTo(pfns);
        return Errno.Ok;
    }

    // A pin hands out whole pages: the range must start on one, and an area the range runs on from must end on one.
    private static bool ContigIsAligned(IoptArea area, ulong cur, bool continues) =>
        area.ByteOf(cur) % PageSize == 0 && (!continues || area.ByteOf(area.Last) % PageSize == PageSize - 1);

    // check_area_prot: a write needs IOMMU_WRITE, anything else IOMMU_READ.
    private static bool Allows(IoptArea area, bool write) =>
        (area.Prot & (write ? IommuProt.Write : IommuProt.Read)) != 0;

    /// <summary>iommufd_access_unpin_pages: drops the pins one <see cref="AccessPin"/> of the same range took.</summary>
    public void AccessUnpin(ulong iova, ulong length)
    {
        if (length == 0)
            return;
        ulong last = iova + (length - 1);
        if (last < iova)
            return;
        ForEachContig(iova, last, (area, cur, end) =>
        {
            if (area.NumAccesses == 0)
                throw new InvalidOperationException("BUG: unpinning an area no access pinned");
            area.NumAccesses--;
            area.Pages!.Release(area.IndexOf(cur), area.IndexOf(end));
            return Errno.Ok;
        });
    }

    /// <summary>
    /// iommufd_access_rw: copies between <paramref name="data"/> and the memory behind IOVA
    /// <paramref name="iova"/> on, at any alignment and across pages and areas. EINVAL for nothing
    /// or an area being unmapped; EOVERFLOW past the end; EPERM for a write to an area without
    /// WRITEABLE or a read of one without READABLE; ENOENT for a gap (checked over the whole
    /// range first, so nothing is written on any failure). Pages nobody holds are pinned for the
    /// copy and unpinned after it.
    /// </summary>
    public Errno AccessRw(IPhysicalMemory memory, ulong iova, Span<byte> data, bool write)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (data.IsEmpty)
            return Errno.EINVAL;
        ulong last = iova + ((ulong)data.Length - 1);
        if (last < iova)
            return Errno.EOVERFLOW;
        // Check the whole range first so that a failing write leaves memory untouched.
        var err = ForEachContig(iova, last, (area, cur, end) =>
            area.PreventAccess ? Errno.EINVAL : area.GuestMemfd is not null ? Errno.EOPNOTSUPP : !Allows(area, write) ? Errno.EPERM : Errno.Ok);
        if (err != Errno.Ok)
            return err;
        var buffer = new byte[data.Length];
        if (write)
            data.CopyTo(buffer);
        err = ForEachContig(iova, last, (area, cur, end) =>
        {
            int first = area.IndexOf(cur), lastIndex = area.IndexOf(end);
            var rc = area.Pages!.Hold(first, lastIndex, write);
            if (rc != Errno.Ok)
                return rc;
            ulong at = cur;
            while (at <= end)
            {
                ulong inPage = area.ByteOf(at) % PageSize;
                ulong chunk = Math.Min(PageSize - inPage, end - at + 1);
                ulong pa = (area.Pages.PfnOf(area.IndexOf(at)) * PageSize) + inPage;
                var span = buffer.AsSpan((int)(at - iova), (int)chunk);
                if (write)
                    memory.Write(pa, span);
                else
                    memory.Read(pa, span);
                at += chunk;
                if (at == 0)
                    break;
            }
            area.Pages.Release(first, lastIndex);
            return Errno.Ok;
        });
        if (err == Errno.Ok && !write)
            buffer.CopyTo(data);
        return err;
    }
}
