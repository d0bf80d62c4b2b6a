namespace Driver.Kernel.Iommufd;

/// <summary>
/// An in-kernel user of an IOAS (Linux struct iommufd_access, as an emulated device or mdev
/// has): pins pages and reads or writes memory by IOVA; unmaps ask it to let go.
/// </summary>
public sealed class IommufdAccess : IommufdObject, IIoptAccess
{
    internal IommufdAccess(IIommufdAccessOps ops)
        : base(IommufdObjectType.Access)
    {
        Ops = ops;
        IovaAlignment = ops.NeedsPinPages ? IoPageTable.PageSize : 1;
    }

    public IIommufdAccessOps Ops { get; }

    /// <summary>Where new pins and copies go; null while detached or detaching.</summary>
    public IommufdIoas? Ioas { get; internal set; }

    /// <summary>Where unpins go (Linux ioas_unpin): still the old IOAS while a detach asks the user to let go.</summary>
    internal IommufdIoas? IoasUnpin { get; set; }

    /// <inheritdoc/>
    public ulong IovaAlignment { get; }

    /// <summary>Unmap requests the access received.</summary>
    public int UnmapRequests { get; private set; }

    void IIoptAccess.NotifyUnmap(ulong iova, ulong length)
    {
        UnmapRequests++;
        Ops.Unmap(this, iova, length);
    }

    /// <summary>
    /// iommufd_access_change_ioas to none: new pins are refused at once, the user is asked to
    /// unpin everything (while its unpins still reach the IOAS), then the access leaves the table.
    /// </summary>
    internal void DetachIoas()
    {
        if (IoasUnpin is not { } ioas)
            return;
        Ioas = null;
        UnmapRequests++;
        Ops.Unmap(this, 0, ulong.MaxValue);
        ioas.Iopt.RemoveAccess(this);
        ioas.RemoveUser();
        IoasUnpin = null;
    }

    internal override void Destroy() => DetachIoas();
}
