namespace Driver.Kernel.Iommufd;

/// <summary>What iommufd asks of the in-kernel user of an access (Linux struct iommufd_access_ops).</summary>
public interface IIommufdAccessOps
{
    /// <summary>
    /// iova..iova+length-1 is being unmapped: unpin every pin taken in it
    /// (<see cref="IommufdContext.AccessUnpin"/>) before returning; the unmap retries until none is left.
    /// </summary>
    void Unmap(IommufdAccess access, ulong iova, ulong length);
}
