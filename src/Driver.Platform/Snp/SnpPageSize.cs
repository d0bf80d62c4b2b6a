namespace Driver.Platform.Snp;

/// <summary>The page sizes the RMP, the SNP instructions and the SNP firmware speak of: one set for Snp/ and Psp/.</summary>
public static class SnpPageSize
{
    public const int Shift4K = 12;
    public const int Shift2M = 21;
    public const int Shift1G = 30;

    public const ulong Size4K = 1UL << Shift4K;
    public const ulong Size2M = 1UL << Shift2M;
    public const ulong Size1G = 1UL << Shift1G;

    /// <summary>RMP entries (one per 4 KiB page) in a 2 MiB run.</summary>
    public const int EntriesPer2M = 1 << (Shift2M - Shift4K);

    /// <summary>Whether <paramref name="value"/> is a multiple of <paramref name="size"/> (a power of two).</summary>
    public static bool IsAligned(ulong value, ulong size) => (value & (size - 1)) == 0;

    /// <summary>The first PFN of the 2 MiB run holding <paramref name="pfn"/>.</summary>
    public static ulong HeadPfn(ulong pfn) => pfn & ~(ulong)(EntriesPer2M - 1);
}
