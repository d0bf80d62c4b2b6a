using Microsoft.Extensions.Logging;

namespace Driver.Platform.Interrupts;

/// <summary>What interrupt delivery reports (event ids 2360-2379).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2360, Level = LogLevel.Warning, Message = "irq {Irq}: nobody cared (a raised line without a handler, dropped)")]
    public static partial void Spurious(ILogger logger, int irq);
}
