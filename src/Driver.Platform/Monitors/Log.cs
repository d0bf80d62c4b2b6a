using Microsoft.Extensions.Logging;

namespace Driver.Platform.Monitors;

/// <summary>What the invariant monitors report (event ids 2320-2339): each broken invariant, as it is recorded.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2320, Level = LogLevel.Error,
        Message = "{Kind} at {TimeNs} ns: device 0x{DeviceId:x4}, address 0x{Address:x}, physical 0x{Detail:x}, kernel: {Operation}")]
    public static partial void Violation(ILogger logger, ViolationKind kind, ushort deviceId, ulong address, ulong detail, string operation, long timeNs);
}
