namespace Driver.Kernel.Iommufd;

/// <summary>
/// A domain whose aperture does not start at IOVA 0 (Linux iommu_domain_geometry). Domain ops
/// that do not implement it translate 0 .. 2^VaBits - 1.
/// </summary>
public interface IIommuDomainGeometry
{
    ulong ApertureStart { get; }

    ulong ApertureEnd { get; }
}
