using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Snp;

/// <summary>What the SNP instructions report (event ids 2100-2199).</summary>
internal static partial class Log
{
    /// <summary>A retryable refusal (OVERLAP, INUSE) at Debug, a real one (INPUT, PERMISSION) at Warning.</summary>
    [LoggerMessage(EventId = 2100, Message = "RMPUPDATE refused for spa {Spa:x} (2M {PageSize2M}): {Result}, {Reason}")]
    public static partial void RmpupdateRefused(ILogger logger, LogLevel level, ulong spa, bool pageSize2M, RmpUpdateResult result, string reason);

    [LoggerMessage(EventId = 2101, Message = "PSMASH refused for spa {Spa:x}: {Result}, {Reason}")]
    public static partial void PsmashRefused(ILogger logger, LogLevel level, ulong spa, PsmashResult result, string reason);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Trace, Message = "RMPUPDATE spa {Spa:x} (2M {PageSize2M}) asid {Asid} assigned {Assigned}")]
    public static partial void Rmpupdated(ILogger logger, ulong spa, bool pageSize2M, ushort asid, bool assigned);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Trace, Message = "PSMASH spa {Spa:x}")]
    public static partial void Psmashed(ILogger logger, ulong spa);

    /// <summary>A retry (CF = 1, nothing to change) at Debug, a real refusal at Warning.</summary>
    [LoggerMessage(EventId = 2104, Message = "PVALIDATE refused for ASID {Asid} gpa {Gpa:x} spa {Spa:x} (2M {PageSize2M}): {Result}, {Reason}")]
    public static partial void PvalidateRefused(ILogger logger, LogLevel level, ushort asid, ulong gpa, ulong spa, bool pageSize2M, PvalidateResult result, string reason);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Trace, Message = "PVALIDATE ASID {Asid} gpa {Gpa:x} spa {Spa:x} (2M {PageSize2M}) validated {Validate}")]
    public static partial void Pvalidated(ILogger logger, ushort asid, ulong gpa, ulong spa, bool pageSize2M, bool validate);
}
