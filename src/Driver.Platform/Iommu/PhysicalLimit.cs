using Driver.Hw.Interfaces;

namespace Driver.Platform.Iommu;

/// <summary>
/// The highest system address the IOMMU can reach (2^bits). Every address it
/// reads out of memory or a register is checked against it before the access,
/// so a bad pointer becomes the hardware's event, never an exception.
/// </summary>
internal readonly record struct PhysicalLimit
{
    private PhysicalLimit(int bits)
    {
        Bits = bits;
        Bytes = 1UL << bits;
    }

    public int Bits { get; }

    /// <summary>2^Bits, kept rather than shifted on every check: the walk makes one per level.</summary>
    public ulong Bytes { get; }

    public static PhysicalLimit Create(int bits)
    {
        if (bits is < 32 or > IPhysicalMemory.AddressBits)
            throw new ArgumentOutOfRangeException(nameof(bits), $"between 32 and {IPhysicalMemory.AddressBits}");
        return new PhysicalLimit(bits);
    }

    /// <summary>Whether [pa, pa + length) lies below the limit (pa is at most 2^52 plus a ring, so the sum cannot wrap).</summary>
    public bool Reaches(ulong pa, ulong length) => pa + length <= Bytes;
}
