using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Tests.Support;

/// <summary>
/// The IOMMU core's map and unmap (iommu_map / iommu_unmap) over a bare page table, for the
/// tests that have no IOMMU driver: the split is the core's own <see cref="PageSizeSplit"/>.
/// </summary>
internal static class BareTable
{
    public static Errno Map<TFormat>(IommuPageTable<TFormat> table, ulong iova, ulong paddr, ulong size, IommuProt prot)
        where TFormat : struct, IPtFormat
    {
        ulong done = 0;
        while (done < size)
        {
            var (pageSize, count) = PageSizeSplit.Pick(table.PageSizeBitmap, iova + done, paddr + done, size - done);
            var err = table.MapPages(iova + done, paddr + done, pageSize, count, prot, out ulong mapped);
            done += mapped;
            if (err != Errno.Ok)
            {
                if (done != 0)
                    Unmap(table, iova, done);
                return err;
            }
        }
        return Errno.Ok;
    }

    public static ulong Unmap<TFormat>(IommuPageTable<TFormat> table, ulong iova, ulong size)
        where TFormat : struct, IPtFormat
    {
        var gather = new IotlbGather();
        ulong done = 0;
        while (done < size)
        {
            table.UnmapPages(iova + done, size - done, gather, out ulong unmapped);
            if (unmapped == 0)
                break;
            done += unmapped;
        }
        table.IotlbSync(gather);
        return done;
    }
}
