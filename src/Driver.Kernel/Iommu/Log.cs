using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommu;

/// <summary>What the IOMMU core prints (event ids 3000-3099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "iommu: device 0x{DeviceId:x4}: adding to its group, default domain {DomainType}")]
    public static partial void DeviceAdded(ILogger logger, ushort deviceId, IommuDomainType domainType);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "iommu: device 0x{DeviceId:x4}: probe failed with {Error}")]
    public static partial void ProbeFailed(ILogger logger, ushort deviceId, Errno error);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "iommu: unaligned: iova 0x{Iova:x} pa 0x{Paddr:x} size 0x{Size:x} min_pagesz 0x{MinPageSize:x}")]
    public static partial void Unaligned(ILogger logger, ulong iova, ulong paddr, ulong size, ulong minPageSize);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "iommu: map of 0x{Size:x} bytes at iova 0x{Iova:x} failed with {Error} after 0x{Mapped:x}; unmapped again")]
    public static partial void MapFailed(ILogger logger, ulong iova, ulong size, ulong mapped, Errno error);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Debug, Message = "iommu: flush queue flushed {Entries} entries with one invalidation")]
    public static partial void FlushQueueFlushed(ILogger logger, int entries);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "iommu: flush queue invalidation failed with {Error}; {Entries} entries stay queued")]
    public static partial void FlushQueueFailed(ILogger logger, Errno error, int entries);
}
