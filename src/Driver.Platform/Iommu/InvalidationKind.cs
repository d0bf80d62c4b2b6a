namespace Driver.Platform.Iommu;

internal enum InvalidationKind
{
    Pages,
    DeviceTableEntry,
    All,
}
