using System.Numerics;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Tests.Support;

/// <summary>
/// What the IOMMU core does above the page table (iommu_map / iommu_unmap):
/// split a range into map_pages calls of one page size each, stopping at the
/// next boundary where a larger page could start.
/// </summary>
internal static class IommuCore
{
    public static (ulong PageSize, ulong Count) PickPages(ulong bitmap, ulong iova, ulong paddr, ulong size)
    {
        ulong merged = iova | paddr;
        ulong sizes = bitmap & PageSizes.UpTo(BitOperations.Log2(size));
        if (merged != 0)
            sizes &= PageSizes.UpTo(BitOperations.TrailingZeroCount(merged));
        int lg2 = BitOperations.Log2(sizes);
        ulong larger = bitmap & ~PageSizes.UpTo(lg2);
        if (larger != 0)
        {
            ulong next = 1UL << BitOperations.TrailingZeroCount(larger);
            ulong toBoundary = next - (merged & (next - 1));
            if (toBoundary + next <= size)
                size = toBoundary;
        }
        return (1UL << lg2, size >> lg2);
    }

    public static Errno Map<TFormat>(IommuPageTable<TFormat> table, ulong iova, ulong paddr, ulong size, IommuProt prot)
        where TFormat : struct, IPtFormat
    {
        ulong done = 0;
        while (done < size)
        {
            var (pageSize, count) = PickPages(table.PageSizeBitmap, iova + done, paddr + done, size - done);
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
