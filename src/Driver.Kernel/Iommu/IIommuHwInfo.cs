namespace Driver.Kernel.Iommu;

/// <summary>
/// A driver that reports hardware information for IOMMU_GET_HW_INFO (Linux iommu_ops.hw_info).
/// Drivers without it report IOMMU_HW_INFO_TYPE_NONE and no data.
/// </summary>
public interface IIommuHwInfo
{
    /// <summary>
    /// The driver's info struct for <paramref name="deviceId"/>, as bytes of its uAPI layout.
    /// <paramref name="type"/> is the iommu_hw_info_type asked for on the way in (0, DEFAULT, for the
    /// driver's own) and the driver's type on the way out. EOPNOTSUPP for a type that is not the
    /// driver's, ENOMEM when the struct cannot be allocated.
    /// </summary>
    Errno HwInfo(ushort deviceId, ref uint type, out byte[] data);
}
