using Driver.Hw.AmdIommu;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Iommu;

/// <summary>
/// What the AMD IOMMU model reports (event ids 2000-2099): what Linux's AMD-Vi
/// driver prints when it reads the event log, said at the moment it happens.
/// Translations log nothing above Debug; the per-access path logs nothing at all.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Error,
        Message = "ILLEGAL_COMMAND_ERROR at 0x{Address:x} ({Command}, words 0x{Word0:x16} 0x{Word1:x16}): the command processor stopped")]
    public static partial void IllegalCommand(ILogger logger, ulong address, CommandHeader command, ulong word0, ulong word1);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Error,
        Message = "COMMAND_HARDWARE_ERROR at 0x{Address:x}, beyond the physical address limit: the command processor stopped")]
    public static partial void CommandHardwareError(ILogger logger, ulong address);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information,
        Message = "command processor restarted at head {Head}")]
    public static partial void CommandsRestarted(ILogger logger, uint head);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning,
        Message = "event log overflow (head {Head}, tail {Tail}): logging stopped until EventLogEn is set again")]
    public static partial void EventLogOverflow(ILogger logger, uint head, uint tail);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error,
        Message = "event log entry at 0x{Address:x} lies beyond the physical address limit: {Event} dropped")]
    public static partial void EventLogUnreachable(ILogger logger, ulong address, EventHeader @event);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error,
        Message = "DEV_TAB_HARDWARE_ERROR device 0x{DeviceId:x4}: entry at 0x{Address:x} lies beyond the device table or the physical address limit")]
    public static partial void DevTabHardwareError(ILogger logger, ushort deviceId, ulong address);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error,
        Message = "PAGE_TAB_HARDWARE_ERROR device 0x{DeviceId:x4}: table read at 0x{Address:x} lies beyond the physical address limit")]
    public static partial void PageTabHardwareError(ILogger logger, ushort deviceId, ulong address);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning,
        Message = "ILLEGAL_DEV_TABLE_ENTRY device 0x{DeviceId:x4}: {Dte}")]
    public static partial void IllegalDevTableEntry(ILogger logger, ushort deviceId, AmdDte dte);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning,
        Message = "RMP_PAGE_FAULT device 0x{DeviceId:x4} address 0x{Iova:x}: system page 0x{Spa:x} refused ({Flags})")]
    public static partial void RmpRefused(ILogger logger, ushort deviceId, ulong iova, ulong spa, RmpFaultFlags flags);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Debug,
        Message = "IO_PAGE_FAULT device 0x{DeviceId:x4} address 0x{Iova:x}: {Event}")]
    public static partial void IoPageFault(ILogger logger, ushort deviceId, ulong iova, IoPageFaultDetailEvent @event);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information,
        Message = "SNP enforcement on = {On}: while on, every DMA is checked against the RMP and the configuration is locked")]
    public static partial void SnpEnforcement(ILogger logger, bool on);
}
