using Driver.Hw.Sev;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Psp;

/// <summary>What the PSP mailbox and the SNP firmware report (event ids 2200-2299).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2200, Level = LogLevel.Warning, Message = "SEV command {Command} failed: status {Status}")]
    public static partial void CommandFailed(ILogger logger, SevCommandId command, SevStatus status);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Debug, Message = "SEV command {Command} completed after {DurationNs} ns: status {Status}")]
    public static partial void CommandCompleted(ILogger logger, SevCommandId command, SevStatus status, long durationNs);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Trace, Message = "SEV command {Command} started, buffer {Buffer:x}")]
    public static partial void CommandStarted(ILogger logger, SevCommandId command, ulong buffer);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Warning, Message = "cmdresp written while command {Running} runs: doorbell for {Command} ignored")]
    public static partial void DoorbellIgnored(ILogger logger, SevCommandId running, SevCommandId command);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information,
        Message = "proposed command (not a published AMD command) IOPDE smash: iopde {Iopde:x}, spa {Spa:x}, DMA stalled {StallNs} ns")]
    public static partial void ProposedIopdeSmash(ILogger logger, ulong iopde, ulong spa, long stallNs);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Information, Message = "SNP {Change}: {IommuPages} IOMMU pages in the Firmware-IOMMU state")]
    public static partial void PlatformChanged(ILogger logger, string change, int iommuPages);

    [LoggerMessage(EventId = 2206, Level = LogLevel.Information, Message = "SNP guest context {Gctx:x} activated with ASID {Asid}")]
    public static partial void GuestActivated(ILogger logger, ulong gctx, ushort asid);

    [LoggerMessage(EventId = 2207, Level = LogLevel.Information, Message = "SNP guest context {Gctx:x} decommissioned, ASID {Asid} released")]
    public static partial void GuestDecommissioned(ILogger logger, ulong gctx, ushort asid);

    [LoggerMessage(EventId = 2208, Level = LogLevel.Information, Message = "TDI 0x{DeviceId:x4} bound to the guest of ASID {Asid}: its T=1 requests are trusted")]
    public static partial void TdiBound(ILogger logger, ushort deviceId, ushort asid);

    [LoggerMessage(EventId = 2209, Level = LogLevel.Information, Message = "TDI 0x{DeviceId:x4} unbound from the guest of ASID {Asid}")]
    public static partial void TdiUnbound(ILogger logger, ushort deviceId, ushort asid);
}
