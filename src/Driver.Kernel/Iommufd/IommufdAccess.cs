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
    /// iommufd_access_change_ioas: EBUSY while a detach is still asking the user to let go (Ioas
    /// already gone, unpins still reaching the old IOAS); Ok at once for the IOAS it has. New pins
    /// are refused from the start; the access joins <paramref name="next"/> first (its errno,
    /// nothing changed), then the user is asked to unpin everything from the old IOAS (whose
    /// unpins still reach it), which the access leaves last.
    /// </summary>
    internal Errno ChangeIoas(IommufdIoas? next)
    {
        IommufdIoas? current = Ioas;
        if (current != IoasUnpin)
            return Errno.EBUSY;
        if (current == next)
            return Errno.Ok;
        Ioas = null;
        if (next is not null)
        {
            var err = next.Iopt.AddAccess(this);
            if (err != Errno.Ok)
            {
                Ioas = current;
                return err;
            }
            next.AddUser();
        }
        if (current is not null)
        {
            UnmapRequests++;
            Ops.Unmap(this, 0, ulong.MaxValue);
            current.Iopt.RemoveAccess(this);
            current.RemoveUser();
        }
        Ioas = next;
        IoasUnpin = next;
        return Errno.Ok;
    }

    /// <summary>iommufd_access_destroy_object: leaves its IOAS, if it still has one.</summary>
    internal override void Destroy()
    {
        if (Ioas is not null && ChangeIoas(null) != Errno.Ok)
            throw new InvalidOperationException("BUG: an access with an IOAS could not leave it");
    }
}
