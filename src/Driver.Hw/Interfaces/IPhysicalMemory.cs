namespace Driver.Hw.Interfaces;

/// <summary>
/// Physical memory as both sides see it: the kernel through its direct map, the
/// devices through DMA. Addresses are 52-bit physical addresses. An address
/// outside that space, or a misaligned 64-bit access, is a bug and throws.
/// </summary>
public interface IPhysicalMemory
{
    /// <summary>Physical address width in bits.</summary>
    const int AddressBits = 52;

    /// <summary>One past the highest physical address.</summary>
    const ulong Limit = 1UL << AddressBits;

    /// <summary>Reads the naturally aligned 64-bit word at <paramref name="pa"/>.</summary>
    ulong ReadU64(ulong pa);

    /// <summary>Writes the naturally aligned 64-bit word at <paramref name="pa"/> (single-copy atomic).</summary>
    void WriteU64(ulong pa, ulong value);

    /// <summary>Atomically replaces the word at <paramref name="pa"/> with <paramref name="value"/> if it equals <paramref name="comparand"/>; returns the old word.</summary>
    ulong CompareExchangeU64(ulong pa, ulong value, ulong comparand);

    /// <summary>Copies bytes starting at <paramref name="pa"/> into <paramref name="destination"/>.</summary>
    void Read(ulong pa, Span<byte> destination);

    /// <summary>Copies <paramref name="source"/> into memory starting at <paramref name="pa"/>.</summary>
    void Write(ulong pa, ReadOnlySpan<byte> source);

    /// <summary>Sets <paramref name="length"/> bytes starting at <paramref name="pa"/> to <paramref name="value"/>.</summary>
    void Fill(ulong pa, ulong length, byte value);
}
