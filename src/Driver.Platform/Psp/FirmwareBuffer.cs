using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Memory;

namespace Driver.Platform.Psp;

/// <summary>
/// The firmware's checks on memory the host names: the command buffer the
/// mailbox points at, and every address the firmware then reads out of it.
/// Each is checked here before a word of it is read, so a malformed request
/// becomes a status and memory never sees an address it would throw on.
/// </summary>
internal static class FirmwareBuffer
{
    /// <summary>Command buffers are arrays of 64-bit words: 8-byte aligned.</summary>
    public const ulong Alignment = 8;

    /// <summary>
    /// INVALID_ADDRESS unless [<paramref name="pa"/>, +<paramref name="bytes"/>) is aligned to
    /// <paramref name="alignment"/> and lies inside the physical address space; else SUCCESS.
    /// </summary>
    public static SevStatus Check(ulong pa, ulong bytes, ulong alignment = Alignment) =>
        (pa & (alignment - 1)) != 0 || !InPhysicalSpace(pa, bytes) ? SevStatus.InvalidAddress : SevStatus.Success;

    /// <summary>Whether [<paramref name="pa"/>, +<paramref name="bytes"/>) lies below 2^52.</summary>
    public static bool InPhysicalSpace(ulong pa, ulong bytes) =>
        pa < IPhysicalMemory.Limit && bytes <= IPhysicalMemory.Limit - pa;

    /// <summary>The <paramref name="words"/> 64-bit words at a buffer <see cref="Check"/> accepted.</summary>
    public static ulong[] Read(PhysicalMemory memory, ulong pa, int words)
    {
        var result = new ulong[words];
        for (int i = 0; i < words; i++)
            result[i] = memory.ReadU64(pa + ((ulong)i * sizeof(ulong)));
        return result;
    }
}
