namespace Driver.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>
    /// The kernel half of the proposed IOAS_MAP_GUEST_MEMFD (seed 004; not upstream), once the
    /// command's flags are checked: EINVAL for a length of 0, an unaligned offset or length, or a
    /// range past the end of the file. With <see cref="IoasMapGuestMemfdFlags.Refresh"/>: EINVAL
    /// without FixedIova; EOVERFLOW when the range wraps; ENOENT when no binding covers it; EINVAL
    /// when that binding is of another file or places it elsewhere; EAGAIN during a conversion
    /// there; then the map's errno. Without it: ENOMEM, then <see cref="IoPageTable.MapPages"/>'s
    /// IOVA errnos, EAGAIN for a fixed IOVA over a range being converted.
    /// </summary>
    public Errno IoasMapGuestMemfd(IommufdIoas ioas, IGuestMemfdPages file, ulong offset, ulong length, IoasMapGuestMemfdFlags flags, ref ulong iova)
    {
        ArgumentNullException.ThrowIfNull(ioas);
        ArgumentNullException.ThrowIfNull(file);
        if (length == 0 || ((offset | length) & (IoPageTable.PageSize - 1)) != 0 || offset > file.Size || length > file.Size - offset)
            return Errno.EINVAL;
        var iopt = ioas.Iopt;
        iopt.GuestMemfdLogger = _logger;
        bool fixedIova = (flags & IoasMapGuestMemfdFlags.FixedIova) != 0;
        if ((flags & IoasMapGuestMemfdFlags.Refresh) != 0)
        {
            if (!fixedIova)
                return Errno.EINVAL;
            ulong last = iova + (length - 1);
            if (last < iova)
                return Errno.EOVERFLOW;
            var area = iopt.GuestMemfdAreaCovering(iova, last);
            if (area is null)
                return Errno.ENOENT;
            if (!ReferenceEquals(area.GuestMemfd!.File.File, file.File) || area.GuestMemfd.FileOffsetOf(iova) != offset)
                return Errno.EINVAL;
            if (iopt.HeldOff(iova, last) != Errno.Ok)
            {
                Log.GmemHeldOff(_logger, ioas.Id, iova);
                return Errno.EAGAIN;
            }
            return iopt.RefreshGuestMemfd(area, iova, last);
        }
        if (_sys.ShouldFail())
            return Errno.ENOMEM;
        var prot = ProtOf((IoasMapFlags)((uint)flags & 0x7));
        bool notify = !_sys.SkipGuestMemfdNotifier;
        bool kernelRemap = (flags & IoasMapGuestMemfdFlags.KernelRemap) != 0;
        var err = iopt.MapGuestMemfd(file, offset, length, ref iova, prot, allocIova: !fixedIova, kernelRemap, notify, _logger, out _);
        if (err != Errno.Ok)
        {
            if (err == Errno.EAGAIN)
                Log.GmemHeldOff(_logger, ioas.Id, iova);
            Log.MapFailed(_logger, ioas.Id, iova, length, err);
            return err;
        }
        Log.GmemBound(_logger, ioas.Id, iova, length, offset, kernelRemap ? "the kernel" : "user space");
        if (!notify)
            Log.GmemNotifierSkipped(_logger, ioas.Id, iova);
        return Errno.Ok;
    }
}
