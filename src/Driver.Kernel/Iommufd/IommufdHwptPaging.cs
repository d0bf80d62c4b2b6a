using Driver.Kernel.Iommu;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// A paging domain linked to an IOAS (Linux struct iommufd_hwpt_paging): every area of the IOAS
/// is mapped into <see cref="Domain"/>. It holds its IOAS; attached devices hold it.
/// </summary>
public sealed class IommufdHwptPaging : IommufdObject
{
    private readonly IommuCore _core;

    internal IommufdHwptPaging(IommuCore core, IommuDomain domain, IommufdIoas ioas, bool auto, bool enforceDirty)
        : base(IommufdObjectType.HwptPaging)
    {
        _core = core;
        Domain = domain;
        Ioas = ioas;
        Auto = auto;
        EnforceDirty = enforceDirty;
    }

    public IommuDomain Domain { get; }

    public IommufdIoas Ioas { get; }

    /// <summary>Created by an attach to an IOAS (freed when its last device leaves) rather than by HWPT_ALLOC.</summary>
    public bool Auto { get; }

    /// <summary>Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING: dirty tracking may be switched on.</summary>
    public bool EnforceDirty { get; }

    /// <summary>Allocated with the proposed GuestPrivate flag: maps guest_memfd bindings' private pages (a TDI's table), not their shared ones.</summary>
    public bool GuestPrivate { get; init; }

    /// <summary>Whether the domain is in the IOAS's table (false only between allocation and that step).</summary>
    internal bool InTable { get; set; }

    internal override void Destroy()
    {
        if (InTable)
        {
            Ioas.Iopt.RemoveDomain(Domain);
            InTable = false;
        }
        Ioas.AutoHwpts.Remove(this);
        Ioas.RemoveUser();
        _core.FreeDomain(Domain);
    }
}
