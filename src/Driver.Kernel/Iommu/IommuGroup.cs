namespace Driver.Kernel.Iommu;

/// <summary>
/// The unit of isolation (Linux struct iommu_group). Every PCI DeviceID here is a group of its
/// own; the group remembers its default domain and the domain it is attached to now.
/// </summary>
public sealed class IommuGroup
{
    internal IommuGroup(ushort deviceId, IommuDeviceCaps caps, IommuDomain defaultDomain)
    {
        DeviceId = deviceId;
        Caps = caps;
        DefaultDomain = defaultDomain;
        Domain = defaultDomain;
    }

    public ushort DeviceId { get; }

    public IommuDeviceCaps Caps { get; }

    public IommuDomain DefaultDomain { get; }

    public IommuDomain Domain { get; internal set; }
}
