using System.Numerics;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Iommu;

/// <summary>
/// How the core cuts a range into map_pages/unmap_pages calls (Linux iommu_pgsize): the largest
/// page size that the bitmap allows, that fits the size and to which both addresses are aligned,
/// and only as many of them as reach the next boundary where a larger page could start.
/// </summary>
public static class PageSizeSplit
{
    public static (ulong PageSize, ulong Count) Pick(ulong bitmap, ulong iova, ulong paddr, ulong size)
    {
        if (bitmap == 0 || size == 0)
            throw new ArgumentOutOfRangeException(nameof(size), "BUG: nothing to split");
        ulong merged = iova | paddr;
        ulong sizes = bitmap & PageSizes.UpTo(BitOperations.Log2(size));
        if (merged != 0)
            sizes &= PageSizes.UpTo(BitOperations.TrailingZeroCount(merged));
        if (sizes == 0)
            throw new ArgumentOutOfRangeException(nameof(size), "BUG: the range is not aligned to the smallest page");
        int lg2 = BitOperations.Log2(sizes);
        ulong larger = bitmap & ~PageSizes.UpTo(lg2);
        if (larger != 0)
        {
            ulong next = 1UL << BitOperations.TrailingZeroCount(larger);
            // A larger page is only possible where both addresses sit at the same offset in it.
            if (((iova ^ paddr) & (next - 1)) == 0)
            {
                ulong toBoundary = next - (merged & (next - 1));
                if (toBoundary + next <= size)
                    size = toBoundary;
            }
        }
        return (1UL << lg2, size >> lg2);
    }
}
