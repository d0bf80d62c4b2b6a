using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Mm;

/// <summary>What the frame allocator prints (event ids 1000-1099).</summary>
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
}
