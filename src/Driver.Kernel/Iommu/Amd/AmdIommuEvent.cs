using Driver.Hw.AmdIommu;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// One entry of the event log as the driver hands it to subscribers (iommufd's fault path):
/// the event code, the requester, the address, the 12 flag bits (ev1 27:16) and the raw words.
/// </summary>
public readonly record struct AmdIommuEvent(ulong Low, ulong High)
{
    public EventCode Code => new EventHeader([Low, High]).EventCode;

    /// <summary>The requester; meaningless for ILLEGAL_COMMAND_ERROR and COMMAND_HARDWARE_ERROR.</summary>
    public ushort DeviceId => new EventHeader([Low, High]).DeviceId;

    /// <summary>The IOVA, GPA, DTE, table or command address, by event code.</summary>
    public ulong Address => High;

    /// <summary>The DomainID (or PASID) of an IO_PAGE_FAULT.</summary>
    public ushort DomainOrPasid => (ushort)new IoPageFaultEvent([Low, High]).DomainOrPasid;

    /// <summary>The flag bits (Linux's "flags=" in the event print).</summary>
    public uint Flags => (uint)((Low >> 48) & 0xFFF);

    /// <summary>The RW flag: the faulting request was a write.</summary>
    public bool Write => (Flags & 0x20) != 0;

    public override string ToString()
    {
        ReadOnlySpan<ulong> w = [Low, High];
        return Code switch
        {
            EventCode.IllegalDevTableEntry => new IllegalDevTableEntryEvent(w).ToString(),
            EventCode.IoPageFault => new IoPageFaultDetailEvent(w).ToString(),
            EventCode.DevTabHardwareError => new DevTabHardwareErrorEvent(w).ToString(),
            EventCode.PageTabHardwareError => new PageTabHardwareErrorEvent(w).ToString(),
            EventCode.IllegalCommandError => new IllegalCommandErrorEvent(w).ToString(),
            EventCode.CommandHardwareError => new CommandHardwareErrorEvent(w).ToString(),
            EventCode.IotlbInvTimeout => new IotlbInvTimeoutEvent(w).ToString(),
            EventCode.InvalidDeviceRequest => new InvalidDeviceRequestEvent(w).ToString(),
            EventCode.RmpPageFault => new RmpPageFaultEvent(w).ToString(),
            EventCode.RmpHardwareError => new RmpHardwareErrorEvent(w).ToString(),
            _ => new EventHeader(w).ToString(),
        };
    }
}
