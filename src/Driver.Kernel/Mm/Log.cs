using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Mm;

/// <summary>What the frame allocator and user memory print (event ids 1000-1099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Warning,
        Message = "zone at 0x{BasePa:x}: all {FrameCount} frames in use, allocation failed (ENOMEM)")]
    public static partial void OutOfFrames(ILogger logger, ulong basePa, ulong frameCount);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "BUG: double free of frame 0x{Pa:x}")]
    public static partial void DoubleFree(ILogger logger, ulong pa);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error,
        Message = "BUG: freeing 0x{Pa:x}, which is not a frame of the zone at 0x{BasePa:x}")]
    public static partial void FreeOutsideZone(ILogger logger, ulong pa, ulong basePa);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "no run of {Frames} contiguous frames left in the zone at 0x{BasePa:x}: ENOMEM")]
    public static partial void NoContiguousRun(ILogger logger, int frames, ulong basePa);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "user page allocation of {Pages} page(s) failed: ENOMEM")]
    public static partial void UserPageAllocFailed(ILogger logger, int pages);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "fail_nth: forcing a failure at the allocation site hit {Hit}")]
    public static partial void FaultInjected(ILogger logger, long hit);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "BUG: unpin of pfn 0x{Pfn:x}, which is not pinned")]
    public static partial void UnpinOfUnpinnedPage(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Error, Message = "BUG: pfn 0x{Pfn:x} is not a live user page")]
    public static partial void NotAUserPage(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Error, Message = "BUG: put of pfn 0x{Pfn:x} would drop a reference its pins hold")]
    public static partial void PutOfPinnedReference(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Debug,
        Message = "pin_user_pages(0x{Uva:x}, {Count}, write={Write}): EFAULT at 0x{BadUva:x}, nothing pinned")]
    public static partial void PinFault(ILogger logger, ulong uva, int count, bool write, ulong badUva);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "munmap at 0x{Uva:x}: {Pages} pinned page(s) keep their frames until unpinned")]
    public static partial void MunmapKeptPinned(ILogger logger, ulong uva, long pages);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "mmap of {Length} bytes: no free range left (ENOMEM)")]
    public static partial void MmapNoSpace(ILogger logger, ulong length);
}
