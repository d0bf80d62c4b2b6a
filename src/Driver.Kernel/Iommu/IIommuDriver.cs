namespace Driver.Kernel.Iommu;

/// <summary>
/// What the core asks of an IOMMU driver (Linux struct iommu_ops): probe a device, allocate a
/// paging domain, and attach a device to a domain of any kind.
/// </summary>
public interface IIommuDriver
{
    /// <summary>ENODEV when the device is not behind this IOMMU.</summary>
    Errno ProbeDevice(ushort deviceId, out IommuDeviceCaps caps);

    /// <summary>EOPNOTSUPP for flags the IOMMU cannot honour; ENOMEM or ENOSPC when out of resources.</summary>
    Errno AllocPagingDomain(DomainAllocFlags flags, out IIommuDomainOps? domain);

    /// <summary>
    /// Points the device at <paramref name="paging"/> (for <see cref="IommuDomainType.Paging"/>) or
    /// blocks it or lets it through. The device's previous domain lets go of it.
    /// </summary>
    Errno AttachDevice(ushort deviceId, IommuDomainType type, IIommuDomainOps? paging);
}
