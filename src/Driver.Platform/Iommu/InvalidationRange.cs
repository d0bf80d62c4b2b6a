namespace Driver.Platform.Iommu;

/// <summary>
/// The address range of an invalidation command. S = 0: the one 4 KiB page at
/// the address. S = 1: the lowest clear address bit at or above bit 12 gives
/// the size (bit n clear means 2^(n+1) bytes); no clear bit below 63 means
/// everything (Linux sends 0x7fff_ffff_ffff_f000).
/// </summary>
public readonly record struct InvalidationRange(ulong First, ulong Last)
{
    public static readonly InvalidationRange All = new(0, ulong.MaxValue);

    public static InvalidationRange Decode(ulong address, bool sizeBit)
    {
        ulong page = address & ~0xFFFUL;
        if (!sizeBit)
            return new InvalidationRange(page, page + 0xFFF);
        ulong ones = ~page >> 12;
        int clear = ones == 0 ? 64 : System.Numerics.BitOperations.TrailingZeroCount(ones) + 12;
        if (clear >= 63)
            return All;
        ulong size = 1UL << (clear + 1);
        ulong first = page & ~(size - 1);
        return new InvalidationRange(first, first + (size - 1));
    }

    public bool Contains(ulong address) => address >= First && address <= Last;
}
