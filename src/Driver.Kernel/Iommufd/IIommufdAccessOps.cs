namespace Driver.Kernel.Iommufd;

/// <summary>What iommufd asks of the in-kernel user of an access (Linux struct iommufd_access_ops).</summary>
public interface IIommufdAccessOps
{
    /// <summary>
    /// needs_pin_pages: the user will call <see cref="IommufdContext.AccessPin"/>, so the IOAS it
    /// attaches to must map whole pages (PAGE_SIZE IOVA alignment); without it only
    /// <see cref="IommufdContext.AccessRw"/> is allowed and the access asks for no alignment.
    /// </summary>
    bool NeedsPinPages { get; }

    /// <summary>
    /// iova..iova+length-1 is being unmapped: unpin every pin taken in it
    /// (<see cref="IommufdContext.AccessUnpin"/>) before returning; the unmap retries until none is left.
    /// Detaching the access asks for 0 with length <see cref="ulong.MaxValue"/>: everything.
    /// </summary>
    void Unmap(IommufdAccess access, ulong iova, ulong length);
}
