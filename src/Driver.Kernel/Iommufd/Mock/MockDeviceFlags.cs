namespace Driver.Kernel.Iommufd.Mock;

/// <summary>Per-device behaviour of the mock IOMMU (Linux MOCK_FLAGS_DEVICE_*).</summary>
[Flags]
public enum MockDeviceFlags
{
    None = 0,

    /// <summary>The device cannot take part in dirty tracking (MOCK_FLAGS_DEVICE_NO_DIRTY).</summary>
    NoDirty = 1,
}
