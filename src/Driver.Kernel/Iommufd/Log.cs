using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommufd;

/// <summary>What iommufd prints (event ids 4000-4099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "iommufd: device 0x{DeviceId:x4} bound as object {ObjectId}")]
    public static partial void DeviceBound(ILogger logger, ushort deviceId, uint objectId);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "iommufd: device 0x{DeviceId:x4}: DMA already owned, bind refused")]
    public static partial void OwnershipRefused(ILogger logger, ushort deviceId);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Debug, Message = "iommufd: IOAS {IoasId}: map of 0x{Length:x} bytes at iova 0x{Iova:x} failed with {Error}")]
    public static partial void MapFailed(ILogger logger, uint ioasId, ulong iova, ulong length, Errno error);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "iommufd: device 0x{DeviceId:x4}: IO page fault at iova 0x{Iova:x} (write {Write})")]
    public static partial void IoPageFault(ILogger logger, ushort deviceId, ulong iova, bool write);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "iommufd: IOAS {IoasId}: guest_memfd bound at iova 0x{Iova:x}, 0x{Length:x} bytes from offset 0x{Offset:x} (proposed IOAS_MAP_GUEST_MEMFD; remap by {Remapper})")]
    public static partial void GmemBound(ILogger logger, uint ioasId, ulong iova, ulong length, ulong offset, string remapper);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Debug, Message = "iommufd: guest_memfd invalidation ({Reason}): iova 0x{Iova:x}, 0x{Length:x} bytes zapped in {Domains} domains")]
    public static partial void GmemZapped(ILogger logger, Kvm.InvalidateReason reason, ulong iova, ulong length, int domains);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "iommufd: guest_memfd zap: cut at iova 0x{Iova:x} failed with {Error}; the whole large page goes and its rest is mapped again at 4K")]
    public static partial void GmemCutFailed(ILogger logger, ulong iova, Errno error);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Debug, Message = "iommufd: guest_memfd invalidation ({Reason}) ended: iova 0x{Iova:x}, 0x{Length:x} bytes mapped again by the kernel")]
    public static partial void GmemRemapped(ILogger logger, Kvm.InvalidateReason reason, ulong iova, ulong length);

    [LoggerMessage(EventId = 4024, Level = LogLevel.Warning, Message = "iommufd: guest_memfd remap of iova 0x{Iova:x}, 0x{Length:x} bytes failed with {Error}; DMA there faults until user space refreshes it")]
    public static partial void GmemRemapFailed(ILogger logger, ulong iova, ulong length, Errno error);

    [LoggerMessage(EventId = 4025, Level = LogLevel.Debug, Message = "iommufd: IOAS {IoasId}: update of iova 0x{Iova:x} held off (EAGAIN): a guest_memfd conversion is in progress there")]
    public static partial void GmemHeldOff(ILogger logger, uint ioasId, ulong iova);

    [LoggerMessage(EventId = 4026, Level = LogLevel.Warning, Message = "iommufd: IOAS {IoasId}: guest_memfd binding at iova 0x{Iova:x} without its invalidation notifier (test switch)")]
    public static partial void GmemNotifierSkipped(ILogger logger, uint ioasId, ulong iova);

    [LoggerMessage(EventId = 4027, Level = LogLevel.Debug, Message = "iommufd: guest_memfd 2M run at iova 0x{Iova:x} cut to 4K in {Domains} domains before its RMP entry is smashed")]
    public static partial void GmemSplit(ILogger logger, ulong iova, int domains);

    [LoggerMessage(EventId = 4028, Level = LogLevel.Warning, Message = "iommufd: guest_memfd split: cut at iova 0x{Iova:x} failed with {Error}; the 2M page is zapped and mapped again at 4K")]
    public static partial void GmemSplitCutFailed(ILogger logger, ulong iova, Errno error);

    [LoggerMessage(EventId = 4029, Level = LogLevel.Warning, Message = "iommufd: guest_memfd split of the 2M run at iova 0x{Iova:x} failed with {Error}: the RMP entry is not smashed")]
    public static partial void GmemSplitFailed(ILogger logger, ulong iova, Errno error);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "iommufd: unmap at iova 0x{Iova:x}: an access does not let go of its pins after {Tries} requests")]
    public static partial void UnmapDeadlock(ILogger logger, ulong iova, int tries);
}
