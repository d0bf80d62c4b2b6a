using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// Each command's smallest accepted size: the end of its last mandatory field (Linux's
/// IOCTL_OP min_size, offsetofend). The offsets come from the generated layouts: a struct
/// with only that field set to all ones is written out and its last non-zero byte found.
/// </summary>
internal static class MinSizes
{
    public static readonly int Destroy = End(default(Uapi.IommuDestroy).WithId(uint.MaxValue).CopyTo);
    public static readonly int IoasAlloc = End(default(Uapi.IommuIoasAlloc).WithOutIoasId(uint.MaxValue).CopyTo);
    public static readonly int IoasAllowIovas = End(default(Uapi.IommuIoasAllowIovas).WithAllowedIovas(ulong.MaxValue).CopyTo);
    public static readonly int IoasCopy = End(default(Uapi.IommuIoasCopy).WithSrcIova(ulong.MaxValue).CopyTo);
    public static readonly int IoasIovaRanges = End(default(Uapi.IommuIoasIovaRanges).WithOutIovaAlignment(ulong.MaxValue).CopyTo);
    public static readonly int IoasMap = End(default(Uapi.IommuIoasMap).WithIova(ulong.MaxValue).CopyTo);
    public static readonly int IoasMapFile = End(default(Uapi.IommuIoasMapFile).WithIova(ulong.MaxValue).CopyTo);
    public static readonly int IoasMapGuestMemfd = End(default(Uapi.IommuIoasMapGuestMemfd).WithIova(ulong.MaxValue).CopyTo);
    public static readonly int IoasUnmap = End(default(Uapi.IommuIoasUnmap).WithLength(ulong.MaxValue).CopyTo);
    public static readonly int Option = End(default(Uapi.IommuOption).WithVal64(ulong.MaxValue).CopyTo);

    // HWPT_ALLOC's mandatory part ends with its first __reserved word, right after out_hwpt_id.
    public static readonly int HwptAlloc = End(default(Uapi.IommuHwptAlloc).WithOutHwptId(uint.MaxValue).CopyTo) + sizeof(uint);

    // GET_HW_INFO's ends with the three reserved bytes after out_max_pasid_log2 (once one u32 __reserved).
    public static readonly int GetHwInfo = End(default(Uapi.IommuHwInfo).WithOutMaxPasidLog2(byte.MaxValue).CopyTo) + 3;

    public static readonly int HwptSetDirtyTracking = End(default(Uapi.IommuHwptSetDirtyTracking).WithHwptId(uint.MaxValue).CopyTo) + sizeof(uint);
    public static readonly int HwptGetDirtyBitmap = End(default(Uapi.IommuHwptGetDirtyBitmap).WithData(ulong.MaxValue).CopyTo);

    private delegate void Writer(Span<byte> destination);

    private static int End(Writer write)
    {
        Span<byte> bytes = stackalloc byte[256];
        bytes.Clear();
        write(bytes);
        return bytes.LastIndexOfAnyExcept((byte)0) + 1;
    }
}
