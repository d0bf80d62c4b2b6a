namespace Driver.Kernel.Iommufd;

/// <summary>What an io_pagetable asks of an in-kernel access attached to it: let go of a range about to be unmapped.</summary>
public interface IIoptAccess
{
    /// <summary>The IOVA alignment the access needs of the table (iommufd_access.iova_alignment): a page to pin, else 1.</summary>
    ulong IovaAlignment { get; }

    /// <summary>Every pin the access holds in iova..iova+length-1 must be unpinned (iommufd_access_ops.unmap).</summary>
    void NotifyUnmap(ulong iova, ulong length);
}
