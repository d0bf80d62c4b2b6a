namespace Driver.Platform.Iommu;

/// <summary>
/// Why the RMP check refused a DMA, as this model encodes it in RMP_PAGE_FAULT
/// ev0 23:16 (the published sources name no individual flags). A refusal sets
/// every flag whose rule the page broke.
/// </summary>
[Flags]
public enum RmpFaultFlags : byte
{
    None = 0,

    /// <summary>Untrusted request: the page is not hypervisor-owned (a guest, firmware or context page).</summary>
    NotHypervisorOwned = 0x01,

    /// <summary>The RMP page size does not match what the granularity rule requires for the I/O page.</summary>
    SizeMismatch = 0x02,

    /// <summary>Trusted request: the page is not assigned to the bound guest's ASID (another guest's, the hypervisor's or firmware's).</summary>
    AsidMismatch = 0x04,

    /// <summary>Trusted request: the RMP entry maps the page at another guest address than the request's.</summary>
    GpaMismatch = 0x08,

    /// <summary>Trusted request: the guest has not validated the page.</summary>
    NotValidated = 0x10,

    /// <summary>Trusted request (T=1) from a device no TDI_BIND bound to a guest.</summary>
    UnboundTdi = 0x20,
}
