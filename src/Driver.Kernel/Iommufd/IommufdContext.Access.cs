namespace Driver.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>iommufd_access_create: a new access (not attached to an IOAS) for an in-kernel user.</summary>
    public Errno AccessCreate(IIommufdAccessOps ops, out IommufdAccess? access)
    {
        ArgumentNullException.ThrowIfNull(ops);
        access = null;
        var made = new IommufdAccess(ops);
        var err = Alloc(made);
        if (err != Errno.Ok)
            return err;
        // The creating driver holds it, as it holds a bound device.
        made.AddUser();
        Objects.Finalize(made);
        access = made;
        return Errno.Ok;
    }

    /// <summary>
    /// iommufd_access_attach: EINVAL when already attached; ENOENT for a bad IOAS; EBUSY while a
    /// detach is still in progress; then iopt_add_access: EBUSY when the IOAS has
    /// <see cref="IoPageTable.MaxAccesses"/> accesses, ENOMEM, or EADDRINUSE when an area does not
    /// meet the alignment the access needs (a page for one that pins), with nothing changed.
    /// </summary>
    public Errno AccessAttach(IommufdAccess access, uint ioasId)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (access.Ioas is not null)
            return Errno.EINVAL;
        return ChangeIoas(access, ioasId);
    }

    /// <summary>
    /// iommufd_access_replace (VFIO's emulated devices moving to another IOAS): ENOENT when the
    /// access has no IOAS, ENOENT for a bad IOAS id; Ok with nothing done for the IOAS it already
    /// has; otherwise it joins the new IOAS first (that table's errno, still attached to the old
    /// one), then its user is asked to unpin everything from the old IOAS, which it leaves.
    /// </summary>
    public Errno AccessReplace(IommufdAccess access, uint ioasId)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (access.Ioas is null)
            return Errno.ENOENT;
        return ChangeIoas(access, ioasId);
    }

    private Errno ChangeIoas(IommufdAccess access, uint ioasId)
    {
        var err = GetIoas(ioasId, out var ioas);
        return err != Errno.Ok ? err : access.ChangeIoas(ioas);
    }

    /// <summary>
    /// iommufd_access_detach: the access stops using its IOAS (EINVAL when it has none); its
    /// user is first asked to unpin everything (unmap of 0 with length <see cref="ulong.MaxValue"/>).
    /// </summary>
    public Errno AccessDetach(IommufdAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (access.Ioas is null)
            return Errno.EINVAL;
        return access.ChangeIoas(null);
    }

    /// <summary>iommufd_access_destroy: detaches and removes the access.</summary>
    public Errno AccessDestroy(IommufdAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        access.RemoveUser();
        var err = Objects.Remove(access.Id, out _);
        if (err != Errno.Ok)
        {
            access.AddUser();
            return err;
        }
        access.Destroy();
        return Errno.Ok;
    }

    /// <summary>
    /// iommufd_access_pin_pages, in Linux's order: EINVAL for an access whose ops do not need
    /// pin_pages, EINVAL for length 0, EOVERFLOW past the end, ENOENT without an IOAS; then
    /// <see cref="IoPageTable.AccessPin"/>.
    /// </summary>
    public Errno AccessPin(IommufdAccess access, ulong iova, ulong length, bool write, Span<ulong> pfns)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (access.IovaAlignment != IoPageTable.PageSize)
            return Errno.EINVAL;
        var err = CheckRange(iova, length);
        if (err != Errno.Ok)
            return err;
        if (access.Ioas is not { } ioas)
            return Errno.ENOENT;
        return ioas.Iopt.AccessPin(iova, length, write, pfns);
    }

    private static Errno CheckRange(ulong iova, ulong length) =>
        length == 0 ? Errno.EINVAL : iova + (length - 1) < iova ? Errno.EOVERFLOW : Errno.Ok;

    /// <summary>
    /// iommufd_access_unpin_pages: undoes one pin of the same range, in the IOAS the pin was taken
    /// from (also while a detach asks the user to let go); nothing once detached.
    /// </summary>
    public void AccessUnpin(IommufdAccess access, ulong iova, ulong length)
    {
        ArgumentNullException.ThrowIfNull(access);
        access.IoasUnpin?.Iopt.AccessUnpin(iova, length);
    }

    /// <summary>
    /// iommufd_access_rw, in Linux's order: EINVAL for no data, EOVERFLOW past the end, ENOENT
    /// without an IOAS; then <see cref="IoPageTable.AccessRw"/>.
    /// </summary>
    public Errno AccessRw(IommufdAccess access, ulong iova, Span<byte> data, bool write)
    {
        ArgumentNullException.ThrowIfNull(access);
        var err = CheckRange(iova, (ulong)data.Length);
        if (err != Errno.Ok)
            return err;
        if (access.Ioas is not { } ioas)
            return Errno.ENOENT;
        return ioas.Iopt.AccessRw(_sys.Memory, iova, data, write);
    }
}
