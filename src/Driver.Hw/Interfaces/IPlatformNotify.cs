namespace Driver.Hw.Interfaces;

/// <summary>
/// What the kernel tells the machine so that the invariant monitors can judge
/// what hardware does: which frames hold I/O page tables, and what the kernel
/// is doing right now. Real hardware learns none of this; nothing here changes
/// how a device behaves.
/// </summary>
public interface IPlatformNotify
{
    /// <summary>The kernel now uses the 4 KiB frame at <paramref name="pa"/> as an I/O page table.</summary>
    void TableFrameAllocated(ulong pa);

    /// <summary>The kernel has freed the table frame at <paramref name="pa"/>; no walk may use it any more.</summary>
    void TableFrameFreed(ulong pa);

    /// <summary>The kernel handed out the 4 KiB frame at <paramref name="pa"/> as memory (a user or guest page): DMA may reach it again.</summary>
    void MemoryFrameAllocated(ulong pa);

    /// <summary>The kernel freed the memory frame at <paramref name="pa"/>: until it is handed out again, no DMA may reach it.</summary>
    void MemoryFrameFreed(ulong pa);

    /// <summary>The kernel operation in progress (null when idle), quoted in every violation.</summary>
    void SetOperation(string? operation);
}
