using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommu.Amd;

public sealed partial class AmdIommuDriver : IIommuHwInfo
{
    /// <summary>
    /// amd_iommufd_hw_info (drivers/iommu/amd/iommufd.c): struct iommu_hw_info_amd with the EFR and
    /// EFR2 read at init, as IOMMU_HW_INFO_TYPE_AMD; EOPNOTSUPP for another type asked for, ENODEV
    /// before init (no device is behind an IOMMU that is not up).
    /// </summary>
    public Errno HwInfo(ushort deviceId, ref uint type, out byte[] data)
    {
        data = [];
        if (type != (uint)Uapi.HwInfoType.None && type != (uint)Uapi.HwInfoType.Amd)
            return Errno.EOPNOTSUPP;
        if (!Initialized)
            return Errno.ENODEV;
        data = new byte[Uapi.IommuHwInfoAmd.Bytes];
        default(Uapi.IommuHwInfoAmd).WithEfr(Features.Raw).WithEfr2(Features2.Raw).CopyTo(data);
        type = (uint)Uapi.HwInfoType.Amd;
        return Errno.Ok;
    }
}
