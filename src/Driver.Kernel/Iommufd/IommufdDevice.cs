namespace Driver.Kernel.Iommufd;

/// <summary>
/// A bound device (Linux struct iommufd_device): it owns its DMA while bound, is attached to at
/// most one HWPT, and counts the IO page faults reported for it. The binding driver holds it:
/// DESTROY says EBUSY until it is unbound.
/// </summary>
public sealed class IommufdDevice : IommufdObject
{
    internal IommufdDevice(ushort deviceId, bool dirtyCapable)
        : base(IommufdObjectType.Device)
    {
        DeviceId = deviceId;
        DirtyCapable = dirtyCapable;
    }

    public ushort DeviceId { get; }

    /// <summary>The IOMMU can track dirty pages for this device (IOMMU_CAP_DIRTY_TRACKING).</summary>
    public bool DirtyCapable { get; }

    public IommufdHwptPaging? Hwpt { get; internal set; }

    /// <summary>IO page faults the IOMMU reported for the device since it was bound.</summary>
    public long Faults { get; internal set; }

    /// <summary>The last faulting IOVA, for a test or a VMM that reads it.</summary>
    public ulong LastFaultIova { get; internal set; }

    internal Action<IommufdDevice>? OnDestroy { get; set; }

    internal override void Destroy() => OnDestroy?.Invoke(this);
}
