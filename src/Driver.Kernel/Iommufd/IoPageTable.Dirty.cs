using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Iommufd;

public sealed partial class IoPageTable
{
    /// <summary>
    /// iopt_set_dirty_tracking: the domain's dirty tracking on or off (EOPNOTSUPP when it has
    /// none); turning it on starts from a clean snapshot, every area's dirty bits cleared.
    /// </summary>
    public Errno SetDirtyTracking(IommuDomain domain, bool enable)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var ops = domain.Ops!;
        var err = ops.SetDirtyTracking(enable);
        if (err != Errno.Ok || !enable)
            return err;
        // The clear runs once tracking is on: a driver refuses to clear bits it does not track,
        // and no DMA can run between the two steps on the one kernel thread.
        foreach (var node in Areas.Nodes)
        {
            var area = node.Value;
            if (area.Pages is null)
                continue;
            var scratch = new IovaBitmap(area.Iova & ~(PageSize - 1), AlignUp(area.Last + 1) - (area.Iova & ~(PageSize - 1)));
            err = ops.ReadAndClearDirty(area.Iova, area.Length, DirtyFlags.None, scratch);
            if (err != Errno.Ok)
            {
                ops.SetDirtyTracking(false);
                return err;
            }
        }
        return Errno.Ok;
    }

    /// <summary>
    /// iommufd_check_iova_range then iopt_read_and_clear_dirty_data: EOVERFLOW past the end;
    /// EINVAL for a range not aligned to the table, a page size of 0, or a start or end with a
    /// bit of <paramref name="pageSize"/> - 1 set (no power of two is asked for); then EOPNOTSUPP
    /// when the domain has no <paramref name="dirtyOps"/> (allocated without dirty tracking), as
    /// iommu_read_and_clear_dirty refuses only after the range checks; EINVAL for a gap in the areas.
    /// Dirty pages are set in <paramref name="bitmap"/> and, unless <paramref name="flags"/> says NoClear, cleared.
    /// </summary>
    public Errno ReadAndClearDirty(IommuDomain domain, bool dirtyOps, ulong iova, ulong length, ulong pageSize, DirtyFlags flags,
        Func<IovaBitmap> bitmap)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(bitmap);
        // check_add_overflow(iova, length - 1): a length of 0 wraps to the whole space.
        if (length - 1 > ulong.MaxValue - iova)
            return Errno.EOVERFLOW;
        ulong last = iova + (length - 1);
        if ((iova & (IovaAlignment - 1)) != 0 || ((last + 1) & (IovaAlignment - 1)) != 0)
            return Errno.EINVAL;
        // Only 0 is refused as such: the masks below are all Linux applies, and the bitmap's
        // granule is the lowest set bit (iova_bitmap_alloc's __ffs), so 0x3000 reads as 4K.
        if (pageSize == 0)
            return Errno.EINVAL;
        if ((iova & (pageSize - 1)) != 0 || ((last + 1) & (pageSize - 1)) != 0)
            return Errno.EINVAL;
        if (!dirtyOps)
            return Errno.EOPNOTSUPP;
        var ops = domain.Ops!;
        // A gap is refused before the bitmap is made: its size is bounded by what is mapped.
        if (ForEachContig(iova, last, (_, _, _) => Errno.Ok) != Errno.Ok)
            return Errno.EINVAL;
        var target = bitmap();
        var err = ForEachContig(iova, last, (area, cur, end) => ops.ReadAndClearDirty(cur, end - cur + 1, flags, target));
        return err == Errno.ENOENT ? Errno.EINVAL : err;
    }

    private static ulong AlignUp(ulong value) => value == 0 ? ulong.MaxValue & ~(PageSize - 1) : (value + (PageSize - 1)) & ~(PageSize - 1);
}
