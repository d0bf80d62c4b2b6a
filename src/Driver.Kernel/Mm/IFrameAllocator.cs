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

    /// <summary>
    /// Allocates <paramref name="frames"/> (a power of two) zeroed, contiguous frames whose first
    /// address is aligned to their size: a folio of that order. Each frame is freed on its own. By
    /// default a run one folio short of twice the size is taken and what lies outside the aligned
    /// folio is given back; an allocator that searches for aligned runs itself does better.
    /// </summary>
    bool TryAllocAligned(int frames, out ulong pa)
    {
        if (frames < 1 || (frames & (frames - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(frames), "an aligned run is a power of two of frames");
        ulong bytes = (ulong)frames << Page.Shift;
        ulong runFrames = frames == 1 ? 1UL : (2UL * (ulong)frames) - 1;
        if (!TryAllocContiguous((int)runFrames, out ulong run))
        {
            pa = 0;
            return false;
        }
        pa = (run + bytes - 1) & ~(bytes - 1);
        ulong runEnd = run + (runFrames << Page.Shift);
        for (ulong f = run; f < pa; f += Page.Size)
            Free(f);
        for (ulong f = pa + bytes; f < runEnd; f += Page.Size)
            Free(f);
        return true;
    }

    /// <summary>Returns a frame. Freeing a frame that is not allocated is a bug and throws.</summary>
    void Free(ulong pa);

    /// <summary>Frames currently allocated.</summary>
    long FramesInUse { get; }
}
