using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Psp;

/// <summary>What the PSP driver and the SNP helpers print (event ids 5000-5099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "ccp: PSP at 0x{MmioBase:x} enabled: {Feature}")]
    public static partial void Probed(ILogger logger, ulong mmioBase, PspFeatureRegister feature);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "ccp: no SEV interface at 0x{MmioBase:x} ({Status}, {Feature})")]
    public static partial void NoSev(ILogger logger, ulong mmioBase, MmioStatus status, PspFeatureRegister feature);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "ccp: sev command {Command} timed out after {TimeoutNs} ns, disabling PSP")]
    public static partial void CommandTimedOut(ILogger logger, SevCommandId command, long timeoutNs);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Debug, Message = "ccp: sev command {Command} failed ({Status})")]
    public static partial void CommandFailed(ILogger logger, SevCommandId command, SevStatus status);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "ccp: sev command {Command} refused: the PSP is dead")]
    public static partial void PspDead(ILogger logger, SevCommandId command);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "ccp: mailbox access at 0x{Pa:x} failed ({Status}) during sev command {Command}")]
    public static partial void MailboxBusError(ILogger logger, ulong pa, MmioStatus status, SevCommandId command);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Error, Message = "ccp: interrupt line {Irq} is taken")]
    public static partial void IrqBusy(ILogger logger, int irq);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Error, Message = "ccp: out of memory allocating {What}")]
    public static partial void OutOfMemory(ILogger logger, string what);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "SEV-SNP API:{Major}.{Minor} build:{Build}: platform initialised")]
    public static partial void SnpInitialized(ILogger logger, byte major, byte minor, uint build);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Error, Message = "SEV-SNP: {Command} failed, errno {Errno}, firmware status {Status}")]
    public static partial void SnpCommandError(ILogger logger, SevCommandId command, Errno errno, SevStatus status);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Error, Message = "SEV-SNP: the IOMMU cannot run with SNP ({Errno}); SNP_INIT not issued")]
    public static partial void IommuNotReady(ILogger logger, Errno errno);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Information, Message = "SEV-SNP: platform shut down, {Pages} IOMMU pages handed back")]
    public static partial void SnpShutDown(ILogger logger, int pages);

    [LoggerMessage(EventId = 5014, Level = LogLevel.Information, Message = "SEV-SNP: SNP_SHUTDOWN_EX needs SNP_DF_FLUSH; flushing and retrying")]
    public static partial void DfFlushRetry(ILogger logger);

    [LoggerMessage(EventId = 5015, Level = LogLevel.Error, Message = "SEV-SNP: SNP IOMMU shutdown failed ({Errno})")]
    public static partial void IommuSnpShutdownFailed(ILogger logger, Errno errno);

    [LoggerMessage(EventId = 5016, Level = LogLevel.Information, Message = "SEV-SNP: ASID {Asid} was used before; SNP_DF_FLUSH before SNP_ACTIVATE")]
    public static partial void AsidNeedsDfFlush(ILogger logger, ushort asid);

    [LoggerMessage(EventId = 5020, Level = LogLevel.Error, Message = "RMPUPDATE failed for 0x{Spa:x} ({Level}, asid {Asid}, assigned {Assigned}): {Result}")]
    public static partial void RmpupdateFailed(ILogger logger, ulong spa, RmpPageLevel level, ushort asid, bool assigned, RmpUpdateResult result);

    [LoggerMessage(EventId = 5021, Level = LogLevel.Warning, Message = "PSMASH failed for 0x{Spa:x}: {Result}")]
    public static partial void PsmashFailed(ILogger logger, ulong spa, PsmashResult result);

    [LoggerMessage(EventId = 5022, Level = LogLevel.Warning, Message = "SEV-SNP: leaking PFN range 0x{FirstPfn:x}-0x{LastPfn:x} ({Total} pages leaked so far)")]
    public static partial void LeakingPages(ILogger logger, ulong firstPfn, ulong lastPfn, long total);

    [LoggerMessage(EventId = 5023, Level = LogLevel.Error, Message = "SEV-SNP: SNP_PAGE_RECLAIM of 0x{Pa:x} failed, errno {Errno}, firmware status {Status}")]
    public static partial void ReclaimFailed(ILogger logger, ulong pa, Errno errno, SevStatus status);

    [LoggerMessage(EventId = 5030, Level = LogLevel.Debug, Message = "SEV-SNP: guest context at 0x{Pa:x} {What}")]
    public static partial void GuestContext(ILogger logger, ulong pa, string what);

    [LoggerMessage(EventId = 5031, Level = LogLevel.Information, Message = "SEV-TIO: TDI {DeviceId:x4} {What} (asid {Asid})")]
    public static partial void Tdi(ILogger logger, ushort deviceId, string what, ushort asid);

    [LoggerMessage(EventId = 5040, Level = LogLevel.Warning, Message = "SEV-SNP: issuing the PROPOSED IOPDE-smash call (not a published AMD command) for the IOPDE at 0x{Iopde:x}")]
    public static partial void ProposedIopdeSmash(ILogger logger, ulong iopde);
}
