using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Bus;

/// <summary>What the MMIO bus reports (event ids 2300-2319): a failed access, as a machine-check log would show it.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2300, Level = LogLevel.Warning,
        Message = "MMIO {Size}-byte access at 0x{Address:x} (write {Write}) failed: {Status} at {TimeNs} ns")]
    public static partial void BusError(ILogger logger, ulong address, int size, bool write, MmioStatus status, long timeNs);
}
