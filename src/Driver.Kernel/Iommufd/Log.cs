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

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "iommufd: unmap at iova 0x{Iova:x}: an access does not let go of its pins after {Tries} requests")]
    public static partial void UnmapDeadlock(ILogger logger, ulong iova, int tries);
}
