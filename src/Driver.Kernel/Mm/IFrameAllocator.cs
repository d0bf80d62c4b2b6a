namespace Driver.Kernel.Mm;

/// <summary>
/// Hands out zeroed 4 KiB frames of physical memory for kernel data that
/// hardware reads (page tables, rings). The seam lets a test fail an allocation
/// at a chosen moment.
/// </summary>
public interface IFrameAllocator
{
    /// <summary>Allocates one zeroed frame; false when memory is exhausted (ENOMEM).</summary>
    bool TryAlloc(out ulong pa);

    /// <summary>
    /// Allocates <paramref name="frames"/> zeroed, physically contiguous frames (a higher-order
    /// allocation, for rings and tables hardware reads as one block); false when no such run is free.
    /// Each frame is freed on its own.
    /// </summary>
    bool TryAllocContiguous(int frames, out ulong pa);

    /// <summary>Returns a frame. Freeing a frame that is not allocated is a bug and throws.</summary>
    void Free(ulong pa);

    /// <summary>Frames currently allocated.</summary>
    long FramesInUse { get; }
}
