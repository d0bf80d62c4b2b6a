using System.Numerics;

namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>Page-size bitmaps: bit n set means a page of 2^n bytes.</summary>
public static class PageSizes
{
    /// <summary>
    /// The largest size in <paramref name="bitmap"/> that fits in va..last and to
    /// which both <paramref name="va"/> and <paramref name="oa"/> are aligned, as
    /// log2; 0 when none fits.
    /// </summary>
    public static int BestLg2(ulong bitmap, ulong va, ulong last, ulong oa)
    {
        ulong span = last - va;
        // Sizes up to the largest power of two not above the length span + 1.
        int lengthLg2 = span == ulong.MaxValue ? 64 : BitOperations.Log2(span + 1);
        ulong align = va | oa;
        int alignLg2 = align == 0 ? 64 : BitOperations.TrailingZeroCount(align);
        int limit = Math.Min(lengthLg2, alignLg2);
        ulong candidates = bitmap & UpTo(limit);
        return candidates == 0 ? 0 : BitOperations.Log2(candidates);
    }

    /// <summary>The smallest size in <paramref name="bitmap"/> as log2 (64 when empty).</summary>
    public static int SmallestLg2(ulong bitmap) => BitOperations.TrailingZeroCount(bitmap);

    /// <summary>Bits 0..<paramref name="lg2"/> set.</summary>
    public static ulong UpTo(int lg2) => lg2 >= 63 ? ulong.MaxValue : (2UL << lg2) - 1;
}
