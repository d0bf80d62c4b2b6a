using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Kvm;

/// <summary>What KVM and guest_memfd print (event ids 6000-6099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Debug, Message = "guest_memfd: created, {Size} bytes, flags 0x{Flags:x}")]
    public static partial void Created(ILogger logger, ulong size, ulong flags);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Debug, Message = "guest_memfd: [0x{Offset:x}, +0x{Size:x}) converted to {State}")]
    public static partial void Converted(ILogger logger, ulong offset, ulong size, string state);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information,
        Message = "guest_memfd: conversion to private refused (EAGAIN): page at 0x{ErrorOffset:x} holds {Refs} references, the file expects 1")]
    public static partial void ConversionBusy(ILogger logger, ulong errorOffset, int refs);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Warning,
        Message = "guest_memfd: conversion of [0x{Offset:x}, +0x{Size:x}) failed with {Errno} at 0x{ErrorOffset:x}; {Steps} step(s) rolled back")]
    public static partial void ConversionRolledBack(ILogger logger, ulong offset, ulong size, Errno errno, ulong errorOffset, int steps);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Debug, Message = "guest_memfd: 2M folio at pfn 0x{Pfn:x} split into 4K pages")]
    public static partial void FolioSplit(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Debug, Message = "guest_memfd: 4K pages at pfn 0x{Pfn:x} merged back into a 2M folio")]
    public static partial void FolioMerged(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 6006, Level = LogLevel.Debug, Message = "guest_memfd: host fault on private page {Index} refused (SIGBUS)")]
    public static partial void PrivateHostFault(ILogger logger, ulong index);

    [LoggerMessage(EventId = 6007, Level = LogLevel.Debug, Message = "guest_memfd: no 2M folio for page {Index}, a 4K page instead")]
    public static partial void HugeFallback(ILogger logger, ulong index);

    [LoggerMessage(EventId = 6008, Level = LogLevel.Error, Message = "guest_memfd: rollback step failed with {Errno}: the {What} at pfn 0x{Pfn:x} stays as it is")]
    public static partial void RollbackStepFailed(ILogger logger, Errno errno, string what, ulong pfn);

    [LoggerMessage(EventId = 6009, Level = LogLevel.Debug, Message = "guest_memfd: hole punched at [0x{Offset:x}, +0x{Length:x}), {Pages} page(s) dropped")]
    public static partial void HolePunched(ILogger logger, ulong offset, ulong length, long pages);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "kvm: memslot {Slot} refused with {Errno}: {Reason}")]
    public static partial void MemslotRefused(ILogger logger, int slot, Errno errno, string reason);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Warning, Message = "guest_memfd: a merge back into a 2M folio at pfn 0x{Pfn:x} failed with {Errno}; the pages stay 4K")]
    public static partial void MergeFailed(ILogger logger, ulong pfn, Errno errno);

    [LoggerMessage(EventId = 6020, Level = LogLevel.Debug, Message = "kvm: SEV-SNP: gfn 0x{Gfn:x} prepared private at pfn 0x{Pfn:x}, order {Order}")]
    public static partial void Prepared(ILogger logger, ulong gfn, ulong pfn, int order);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Debug, Message = "kvm: SEV-SNP: 2M RMP entry at pfn 0x{Pfn:x} smashed into 4K entries")]
    public static partial void Smashed(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 6022, Level = LogLevel.Debug, Message = "kvm: SEV-SNP: 4K RMP entries at pfn 0x{Pfn:x} made one 2M entry again at gfn 0x{Gfn:x}")]
    public static partial void RmpMerged(ILogger logger, ulong pfn, ulong gfn);

    [LoggerMessage(EventId = 6023, Level = LogLevel.Debug, Message = "kvm: SEV-SNP: the RMP run at pfn 0x{Pfn:x} stays 4K under a 2M folio: {Reason}")]
    public static partial void MergeKept4K(ILogger logger, ulong pfn, string reason);

    [LoggerMessage(EventId = 6024, Level = LogLevel.Warning, Message = "kvm: SEV-SNP: {What} failed at pfn 0x{Pfn:x} with {Errno}")]
    public static partial void RmpStepFailed(ILogger logger, string what, ulong pfn, Errno errno);

    [LoggerMessage(EventId = 6025, Level = LogLevel.Error, Message = "kvm: SEV-SNP: {Pages} page(s) at pfn 0x{Pfn:x} cannot be made hypervisor-owned again ({Errno}); leaked")]
    public static partial void Leaked(ILogger logger, ulong pfn, int pages, Errno errno);
}
