namespace Driver.Kernel.Iommu;

/// <summary>What the driver reports for a device at probe (Linux iommu_ops.capable and the device's features).</summary>
/// <param name="DirtyTracking">The IOMMU can track dirty pages for the device's domains (EFR.HDSup).</param>
/// <param name="MaxLevels">Host page-table levels the IOMMU walks.</param>
/// <param name="PciAts">The device may use PCI ATS through this IOMMU (IOMMU_CAP_PCI_ATS_SUPPORTED).</param>
public readonly record struct IommuDeviceCaps(bool DirtyTracking, int MaxLevels, bool PciAts = false);
