namespace Driver.Kernel.Iommufd;

/// <summary>
/// An in-kernel user of an IOAS (Linux struct iommufd_access, as an emulated device or mdev
/// has): pins pages and reads or writes memory by IOVA; unmaps ask it to let go.
/// </summary>
public sealed class IommufdAccess : IommufdObject, IIoptAccess
{
    internal IommufdAccess(IIommufdAccessOps ops)
        : base(IommufdObjectType.Access) => Ops = ops;

    public IIommufdAccessOps Ops { get; }

    public IommufdIoas? Ioas { get; internal set; }

    /// <summary>Unmap requests the access received.</summary>
    public int UnmapRequests { get; private set; }

    void IIoptAccess.NotifyUnmap(ulong iova, ulong length)
    {
        UnmapRequests++;
        Ops.Unmap(this, iova, length);
    }

    internal override void Destroy()
    {
        if (Ioas is { } ioas)
        {
            ioas.Iopt.RemoveAccess(this);
            ioas.RemoveUser();
            Ioas = null;
        }
    }
}
