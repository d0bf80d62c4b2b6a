using Driver.Kernel.Kvm;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommufd;

public sealed partial class IommufdFile
{
    private const IoasMapGuestMemfdFlags GuestMemfdMapFlags = IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.Writeable
        | IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.KernelRemap | IoasMapGuestMemfdFlags.Refresh;

    /// <summary>The ioctl number of a command proposed here (not upstream).</summary>
    public static uint Command(Uapi.IommufdProposedCmd nr) => (IoctlType << 8) | (uint)nr;

    // The proposed IOAS_MAP_GUEST_MEMFD, checked in IOAS_MAP_FILE's order; the fd must be a guest_memfd
    // (EBADF when it is not open, EINVAL when it is another file, as kvm_gmem_bind says).
    private Errno IoasMapGuestMemfd(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasMapGuestMemfd.FromBytes(ucmd.Cmd);
        if ((cmd.Flags & ~(uint)GuestMemfdMapFlags) != 0 || !cmd.IsValid)
            return Errno.EOPNOTSUPP;
        if (cmd.Iova == ulong.MaxValue || cmd.Length == ulong.MaxValue || cmd.Offset + cmd.Length < cmd.Offset)
            return Errno.EOVERFLOW;
        if ((cmd.Flags & (uint)(IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable)) == 0)
            return Errno.EINVAL;
        var err = Ctx.GetIoas(cmd.IoasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        if (Fds.Get((int)cmd.Fd, out var file) != Errno.Ok)
            return Errno.EBADF;
        if (file is not GuestMemfd gmem)
            return Errno.EINVAL;
        ulong iova = cmd.Iova;
        err = Ctx.IoasMapGuestMemfd(ioas!, new GuestMemfdPages(gmem, Ctx.Subsystem.GuestMemfdRmpMaxOrder), cmd.Offset, cmd.Length,
            (IoasMapGuestMemfdFlags)cmd.Flags, ref iova);
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithIova(iova).CopyTo);
        return Errno.Ok;
    }
}
