namespace Driver.Kernel.Iommufd;

/// <summary>IOMMU_IOAS_MAP_* flags of IOAS_MAP, IOAS_MAP_FILE and IOAS_COPY.</summary>
[Flags]
public enum IoasMapFlags : uint
{
    None = 0,
    FixedIova = 1 << 0,
    Writeable = 1 << 1,
    Readable = 1 << 2,
}
