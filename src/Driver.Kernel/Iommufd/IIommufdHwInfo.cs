namespace Driver.Kernel.Iommufd;

/// <summary>
/// A driver that reports hardware information through IOMMU_GET_HW_INFO (Linux iommu_ops.hw_info):
/// its info type (an iommu_hw_info_type value) and the bytes of its info struct for a device.
/// Drivers without it report IOMMU_HW_INFO_TYPE_NONE and no data.
/// </summary>
public interface IIommufdHwInfo
{
    uint HwInfoType { get; }

    byte[] HwInfo(ushort deviceId);
}
