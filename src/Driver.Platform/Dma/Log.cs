using Microsoft.Extensions.Logging;

namespace Driver.Platform.Dma;

/// <summary>What the DMA agents report (event ids 2340-2359).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2340, Level = LogLevel.Warning,
        Message = "device 0x{DeviceId:x4} DMA at 0x{Iova:x} (write {Write}) master-aborted: system address 0x{Spa:x} lies beyond physical memory")]
    public static partial void MasterAbort(ILogger logger, ushort deviceId, ulong iova, ulong spa, bool write);
}
