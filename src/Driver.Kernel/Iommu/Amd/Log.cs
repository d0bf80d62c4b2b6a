using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>What the AMD IOMMU driver prints (event ids 3100-3199).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "AMD-Vi: IOMMU at 0x{MmioBase:x} enabled: {Features}, {Features2}, device table for DeviceIDs 0..0x{LastDeviceId:x4}")]
    public static partial void Enabled(ILogger logger, ulong mmioBase, ExtendedFeatureRegister features, ExtendedFeature2Register features2, int lastDeviceId);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "AMD-Vi: no IOMMU answers at 0x{MmioBase:x} ({Status})")]
    public static partial void NoDevice(ILogger logger, ulong mmioBase, Driver.Hw.Interfaces.MmioStatus status);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error, Message = "AMD-Vi: host page tables are not supported ({Features})")]
    public static partial void NoHostTranslation(ILogger logger, ExtendedFeatureRegister features);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Error, Message = "AMD-Vi: out of memory allocating {What}")]
    public static partial void OutOfMemory(ILogger logger, string what);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Error, Message = "AMD-Vi: interrupt line {Irq} is taken")]
    public static partial void IrqBusy(ILogger logger, int irq);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Error, Message = "AMD-Vi: Completion-Wait loop timed out waiting for 0x{Value:x} after {Polls} polls")]
    public static partial void CompletionWaitTimeout(ILogger logger, ulong value, int polls);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Error, Message = "AMD-Vi: command buffer timeout (head {Head}, tail {Tail})")]
    public static partial void CommandBufferTimeout(ILogger logger, uint head, uint tail);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Error, Message = "AMD-Vi: the command processor has stopped at head {Head}: {Status}")]
    public static partial void CommandProcessorStopped(ILogger logger, uint head, StatusRegister status);

    [LoggerMessage(EventId = 3120, Level = LogLevel.Information, Message = "AMD-Vi: domain {DomainId} grew to {Levels} levels, rewrote {Devices} device table entries")]
    public static partial void DomainGrew(ILogger logger, ushort domainId, int levels, int devices);

    [LoggerMessage(EventId = 3130, Level = LogLevel.Warning, Message = "SNP: IOMMU disabled or configured in passthrough mode, SNP cannot be supported")]
    public static partial void SnpPassthrough(ILogger logger);

    [LoggerMessage(EventId = 3131, Level = LogLevel.Warning, Message = "SNP: IOMMU SNP feature not supported ({Features})")]
    public static partial void SnpNotSupported(ILogger logger, ExtendedFeatureRegister features);

    [LoggerMessage(EventId = 3132, Level = LogLevel.Information, Message = "AMD-Vi: IOMMU SNP support enabled, domains map with page sizes 0x{PageSizes:x}")]
    public static partial void SnpEnabled(ILogger logger, ulong pageSizes);

    [LoggerMessage(EventId = 3133, Level = LogLevel.Warning, Message = "AMD-Vi: IOMMU PFN 0x{Pfn:x} RMP lookup failed")]
    public static partial void SnpRmpLookupFailed(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 3134, Level = LogLevel.Warning, Message = "AMD-Vi: IOMMU PFN 0x{Pfn:x} not assigned in RMP table")]
    public static partial void SnpPageNotAssigned(ILogger logger, ulong pfn);

    [LoggerMessage(EventId = 3135, Level = LogLevel.Warning, Message = "AMD-Vi: PSMASH failed for IOMMU PFN 0x{Pfn:x} huge RMP entry: {Result}")]
    public static partial void SnpPsmashFailed(ILogger logger, ulong pfn, PsmashResult result);

    [LoggerMessage(EventId = 3136, Level = LogLevel.Error, Message = "AMD-Vi: RMPUPDATE failed for IOMMU PFN 0x{Pfn:x}, 4K: {Result}")]
    public static partial void SnpRmpupdateFailed(ILogger logger, ulong pfn, RmpUpdateResult result);

    [LoggerMessage(EventId = 3137, Level = LogLevel.Information, Message = "AMD-Vi: SNP disabled, {Pages} IOMMU pages shared again")]
    public static partial void SnpDisabled(ILogger logger, int pages);

    [LoggerMessage(EventId = 3138, Level = LogLevel.Error, Message = "AMD-Vi: SNP is on but the driver was given no RMP instructions; the IOMMU pages stay with firmware")]
    public static partial void SnpNoCpu(ILogger logger);

    [LoggerMessage(EventId = 3140, Level = LogLevel.Information, Message = "AMD-Vi: IOMMU Event log restarting (overflow {Overflows})")]
    public static partial void EventLogRestart(ILogger logger, long overflows);

    [LoggerMessage(EventId = 3141, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=0x{DeviceId:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void IllegalDevTableEntry(ILogger logger, ushort deviceId, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3142, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [IO_PAGE_FAULT device=0x{DeviceId:x4} domain=0x{Domain:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void IoPageFault(ILogger logger, ushort deviceId, ushort domain, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3143, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [DEV_TAB_HARDWARE_ERROR device=0x{DeviceId:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void DevTabHardwareError(ILogger logger, ushort deviceId, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3144, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [PAGE_TAB_HARDWARE_ERROR device=0x{DeviceId:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void PageTabHardwareError(ILogger logger, ushort deviceId, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3145, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x{Address:x}] {Event}")]
    public static partial void IllegalCommandError(ILogger logger, ulong address, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3146, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [COMMAND_HARDWARE_ERROR address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void CommandHardwareError(ILogger logger, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3147, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=0x{DeviceId:x4} address=0x{Address:x}] {Event}")]
    public static partial void IotlbInvTimeout(ILogger logger, ushort deviceId, ulong address, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3148, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [INVALID_DEVICE_REQUEST device=0x{DeviceId:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void InvalidDeviceRequest(ILogger logger, ushort deviceId, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3153, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [RMP_PAGE_FAULT device=0x{DeviceId:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void RmpPageFault(ILogger logger, ushort deviceId, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3154, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [RMP_HARDWARE_ERROR device=0x{DeviceId:x4} address=0x{Address:x} flags=0x{Flags:x3}] {Event}")]
    public static partial void RmpHardwareError(ILogger logger, ushort deviceId, ulong address, uint flags, AmdIommuEvent @event);

    [LoggerMessage(EventId = 3159, Level = LogLevel.Error, Message = "AMD-Vi: Event logged [UNKNOWN event[0]=0x{Low:x16} event[1]=0x{High:x16}]")]
    public static partial void UnknownEvent(ILogger logger, ulong low, ulong high);
}
