using Driver.Hw.Sev;
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

    [LoggerMessage(EventId = 6026, Level = LogLevel.Debug, Message = "kvm: stage 2: 4K leaves at gfn 0x{Gfn:x} merged into a 2M leaf")]
    public static partial void Stage2Merged(ILogger logger, ulong gfn);

    [LoggerMessage(EventId = 6027, Level = LogLevel.Debug, Message = "kvm: stage 2: 2M leaf at gfn 0x{Gfn:x} cut into 4K leaves")]
    public static partial void Stage2Split(ILogger logger, ulong gfn);

    [LoggerMessage(EventId = 6028, Level = LogLevel.Debug, Message = "kvm: stage 2: gfn [0x{First:x}, 0x{End:x}) zapped {Which}: {Pages} page(s)")]
    public static partial void Stage2Zapped(ILogger logger, ulong first, ulong end, Stage2Zap which, long pages);

    [LoggerMessage(EventId = 6029, Level = LogLevel.Information, Message = "kvm: memory fault exit at gpa 0x{Gpa:x}: a {Access} access to a page in the other state")]
    public static partial void MemoryFaultExit(ILogger logger, ulong gpa, string access);

    [LoggerMessage(EventId = 6030, Level = LogLevel.Debug, Message = "kvm: fault at gpa 0x{Gpa:x} retried: an invalidation of its range is in progress or just ended")]
    public static partial void FaultRetry(ILogger logger, ulong gpa);

    [LoggerMessage(EventId = 6031, Level = LogLevel.Debug, Message = "kvm: gpa 0x{Gpa:x} faulted in at pfn 0x{Pfn:x}, order {Order}, private {Private}")]
    public static partial void FaultedIn(ILogger logger, ulong gpa, ulong pfn, int order, bool @private);

    [LoggerMessage(EventId = 6032, Level = LogLevel.Information, Message = "kvm: SEV-SNP VM created with ASID {Asid}")]
    public static partial void SnpVmCreated(ILogger logger, ushort asid);

    [LoggerMessage(EventId = 6033, Level = LogLevel.Warning, Message = "kvm: SEV-SNP VM refused with {Errno} (firmware status {Status}): {Reason}")]
    public static partial void SnpVmRefused(ILogger logger, Errno errno, SevStatus status, string reason);

    [LoggerMessage(EventId = 6034, Level = LogLevel.Information, Message = "kvm: SEV-SNP ASID {Asid} launched on the guest context at 0x{Context:x}")]
    public static partial void SnpLaunched(ILogger logger, ushort asid, ulong context);

    [LoggerMessage(EventId = 6035, Level = LogLevel.Warning, Message = "kvm: SEV-SNP ASID {Asid}: {Command} failed with {Errno}, firmware status {Status}")]
    public static partial void SnpLaunchFailed(ILogger logger, ushort asid, string command, Errno errno, SevStatus status);

    [LoggerMessage(EventId = 6036, Level = LogLevel.Information, Message = "kvm: SEV-SNP ASID {Asid} destroyed and given back")]
    public static partial void SnpVmDestroyed(ILogger logger, ushort asid);

    [LoggerMessage(EventId = 6037, Level = LogLevel.Information, Message = "kvm: VM destroy refused (EBUSY): {Files} guest_memfd file(s) still hold it")]
    public static partial void DestroyRefused(ILogger logger, int files);

    [LoggerMessage(EventId = 6038, Level = LogLevel.Debug, Message = "kvm: vcpu {Vcpu}: page-state change of [0x{Gpa:x}, +0x{Size:x}) to {State}: exit to the VMM")]
    public static partial void PageStateChangeExit(ILogger logger, int vcpu, ulong gpa, ulong size, string state);

    [LoggerMessage(EventId = 6039, Level = LogLevel.Debug, Message = "kvm: vcpu {Vcpu}: page-state change of [0x{Gpa:x}, +0x{Size:x}) completed by the VMM with {Errno}")]
    public static partial void PageStateChangeDone(ILogger logger, int vcpu, ulong gpa, ulong size, Errno errno);

    [LoggerMessage(EventId = 6040, Level = LogLevel.Information, Message = "kvm: vcpu {Vcpu}: page-state change refused ({Errno}): {Reason}")]
    public static partial void PageStateChangeRefused(ILogger logger, int vcpu, Errno errno, string reason);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Debug, Message = "kvm: vcpu {Vcpu}: PVALIDATE of gpa 0x{Gpa:x} took an RMP fault; {Action}")]
    public static partial void RmpFault(ILogger logger, int vcpu, ulong gpa, string action);

    [LoggerMessage(EventId = 6042, Level = LogLevel.Warning, Message = "guest_memfd: 2M run at offset 0x{Offset:x}: a notifier could not cut its 2M mappings ({Errno}); the 2M entry is not smashed")]
    public static partial void SplitHugeRefused(ILogger logger, ulong offset, Errno errno);

    [LoggerMessage(EventId = 6043, Level = LogLevel.Debug, Message = "guest_memfd: 2M run at offset 0x{Offset:x} smashed outside a conversion, its 2M mappings cut first; the folio stays 2M")]
    public static partial void HugeSmashed(ILogger logger, ulong offset);
}
