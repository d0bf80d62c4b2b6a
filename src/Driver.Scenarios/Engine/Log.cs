using Microsoft.Extensions.Logging;

namespace Driver.Scenarios.Engine;

/// <summary>What a scenario run prints (event ids 7000-7099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7000, Level = LogLevel.Debug, Message = "Run {Cell} seed {Seed}: {GuestSize} bytes of guest on {FolioSize}-byte folios, {DurationNs} ns")]
    public static partial void RunStarted(ILogger logger, CellKey cell, ulong seed, ulong guestSize, ulong folioSize, ulong durationNs);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information,
        Message = "Run {Cell} seed {Seed}: {Completed} DMA completed, {Faulted} faulted, {Stalled} stalled; {Conversions} conversions; {Violations} violations")]
    public static partial void RunFinished(ILogger logger, CellKey cell, ulong seed, long completed, long faulted, long stalled, long conversions, long violations);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Error, Message = "Security violation in {Cell} seed {Seed}: {Violation}")]
    public static partial void Violation(ILogger logger, CellKey cell, ulong seed, string violation);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Run {Cell} seed {Seed}: {Failed} conversion exits were refused")]
    public static partial void ConversionsFailed(ILogger logger, CellKey cell, ulong seed, long failed);
}
