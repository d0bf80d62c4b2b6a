namespace Driver.Platform.Iommu;

/// <summary>
/// The arithmetic the command ring and the event log share: 16-byte entries,
/// 2^Length of them, Head and Tail as entry indexes that wrap.
/// </summary>
internal static class Ring
{
    public const ulong EntryBytes = 16;

    public static uint Mask(byte length) => (1u << length) - 1;

    public static ulong Bytes(byte length) => (1UL << length) * EntryBytes;

    public static ulong EntryAddress(ulong baseAddress, uint index) => baseAddress + (index * EntryBytes);
}
