using Microsoft.Extensions.Logging;

namespace Driver.Kernel.IommuPt;

/// <summary>What the I/O page-table library prints (event ids 1100-1199). The per-PTE paths print nothing.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Information,
        Message = "page table grew from level {OldLevel} to level {NewLevel}, top table at 0x{TopPa:x}")]
    public static partial void TopGrown(ILogger logger, int oldLevel, int newLevel, ulong topPa);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning,
        Message = "map of 0x{Length:x} bytes at IOVA 0x{Iova:x}: out of memory for a table (ENOMEM)")]
    public static partial void MapNoMemory(ILogger logger, ulong iova, ulong length);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "no frame for the top table (ENOMEM)")]
    public static partial void InitNoMemory(ILogger logger);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning,
        Message = "growing the top above level {Level} for IOVA 0x{Iova:x}: out of memory (ENOMEM)")]
    public static partial void GrowNoMemory(ILogger logger, int level, ulong iova);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning,
        Message = "cut at IOVA 0x{Iova:x} inside the 2^{SizeLg2} entry at 0x{EntryVa:x}: out of memory (ENOMEM), entry kept")]
    public static partial void CutNoMemory(ILogger logger, ulong iova, ulong entryVa, int sizeLg2);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Trace,
        Message = "lost the race to install a level {Level} table; freed frame 0x{TablePa:x}")]
    public static partial void TableInstallLost(ILogger logger, int level, ulong tablePa);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Debug,
        Message = "IOVA 0x{Iova:x}..0x{Last:x} is beyond what the table can translate (ERANGE)")]
    public static partial void OutOfVaSpace(ILogger logger, ulong iova, ulong last);
}
