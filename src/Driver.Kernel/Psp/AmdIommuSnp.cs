using Driver.Kernel.Iommu.Amd;

namespace Driver.Kernel.Psp;

/// <summary>The AMD IOMMU driver seen through <see cref="IIommuSnp"/>.</summary>
public sealed class AmdIommuSnp(AmdIommuDriver driver) : IIommuSnp
{
    public Errno SnpEnable() => driver.SnpEnable();

    public IReadOnlyList<ulong> SnpPages() => driver.SnpPages();

    public Errno SnpDisable() => driver.SnpDisable();
}
