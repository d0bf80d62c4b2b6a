using Driver.Kernel.Mm;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// An open /dev/iommu as user space holds it: <see cref="Ioctl"/> takes the command and the
/// argument struct's bytes, applies Linux's generic rules (iommufd_fops_ioctl and
/// copy_struct_from_user), runs the command and writes its answer back into the bytes.
/// Pointers inside the structs are user VAs of <see cref="Mm"/>; fds are resolved in
/// <see cref="Fds"/>. Commands not built here (VFIO_IOAS, HWPT_INVALIDATE, FAULT_QUEUE_ALLOC,
/// VIOMMU_ALLOC, VDEVICE_ALLOC, IOAS_CHANGE_PROCESS, VEVENTQ_ALLOC) are ENOTTY like unknown ones.
/// </summary>
public sealed partial class IommufdFile : IFile
{
    /// <summary>The ioctl type of iommufd (IOMMUFD_TYPE, ';').</summary>
    public const uint IoctlType = ';';

    private delegate Errno Handler(Ucmd ucmd);

    private readonly Dictionary<uint, (int MinSize, int Size, Handler Run)> _ops;

    public IommufdFile(IommufdContext ctx, UserAddressSpace mm, FdTable fds)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(fds);
        Ctx = ctx;
        Mm = mm;
        Fds = fds;
        _ops = new()
        {
            [(uint)Uapi.IommufdCmd.Destroy] = (MinSizes.Destroy, Uapi.IommuDestroy.Bytes, Destroy),
            [(uint)Uapi.IommufdCmd.IoasAlloc] = (MinSizes.IoasAlloc, Uapi.IommuIoasAlloc.Bytes, IoasAlloc),
            [(uint)Uapi.IommufdCmd.IoasAllowIovas] = (MinSizes.IoasAllowIovas, Uapi.IommuIoasAllowIovas.Bytes, IoasAllowIovas),
            [(uint)Uapi.IommufdCmd.IoasCopy] = (MinSizes.IoasCopy, Uapi.IommuIoasCopy.Bytes, IoasCopy),
            [(uint)Uapi.IommufdCmd.IoasIovaRanges] = (MinSizes.IoasIovaRanges, Uapi.IommuIoasIovaRanges.Bytes, IoasIovaRanges),
            [(uint)Uapi.IommufdCmd.IoasMap] = (MinSizes.IoasMap, Uapi.IommuIoasMap.Bytes, IoasMap),
            [(uint)Uapi.IommufdCmd.IoasUnmap] = (MinSizes.IoasUnmap, Uapi.IommuIoasUnmap.Bytes, IoasUnmap),
            [(uint)Uapi.IommufdCmd.Option] = (MinSizes.Option, Uapi.IommuOption.Bytes, Option),
            [(uint)Uapi.IommufdCmd.HwptAlloc] = (MinSizes.HwptAlloc, Uapi.IommuHwptAlloc.Bytes, HwptAlloc),
            [(uint)Uapi.IommufdCmd.GetHwInfo] = (MinSizes.GetHwInfo, Uapi.IommuHwInfo.Bytes, GetHwInfo),
            [(uint)Uapi.IommufdCmd.HwptSetDirtyTracking] = (MinSizes.HwptSetDirtyTracking, Uapi.IommuHwptSetDirtyTracking.Bytes, HwptSetDirtyTracking),
            [(uint)Uapi.IommufdCmd.HwptGetDirtyBitmap] = (MinSizes.HwptGetDirtyBitmap, Uapi.IommuHwptGetDirtyBitmap.Bytes, HwptGetDirtyBitmap),
            [(uint)Uapi.IommufdCmd.IoasMapFile] = (MinSizes.IoasMapFile, Uapi.IommuIoasMapFile.Bytes, IoasMapFile),
            [(uint)Uapi.IommufdProposedCmd.IoasMapGuestMemfd] = (MinSizes.IoasMapGuestMemfd, Uapi.IommuIoasMapGuestMemfd.Bytes, IoasMapGuestMemfd),
        };
    }

    public IommufdContext Ctx { get; }

    public UserAddressSpace Mm { get; }

    public FdTable Fds { get; }

    /// <summary>The ioctl number of a command (_IO(IOMMUFD_TYPE, nr)).</summary>
    public static uint Command(Uapi.IommufdCmd nr) => (IoctlType << 8) | (uint)nr;

    /// <summary>
    /// ioctl(fd, command, arg): ENOTTY for a command that is not iommufd's or not built; EFAULT
    /// when the bytes do not hold the size word or the size it states; EINVAL for a size below
    /// the command's last mandatory field; E2BIG for non-zero bytes past the struct the kernel
    /// knows; otherwise the command's own errno. Answers are written back into
    /// <paramref name="arg"/> (up to the size user space stated).
    /// </summary>
    public Errno Ioctl(uint command, Span<byte> arg)
    {
        uint nr = command & 0xFF;
        // _IO carries no size or direction: any other bits make it another command.
        if ((command >> 8) != IoctlType || !_ops.TryGetValue(nr, out var op))
            return Errno.ENOTTY;
        if (arg.Length < sizeof(uint))
            return Errno.EFAULT;
        uint userSize = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(arg);
        if (userSize < op.MinSize)
            return Errno.EINVAL;
        if (userSize > (uint)arg.Length)
            return Errno.EFAULT;
        var user = arg[..(int)userSize];
        if (user.Length > op.Size && user[op.Size..].ContainsAnyExcept((byte)0))
            return Errno.E2BIG;
        var ucmd = new Ucmd(new byte[op.Size]);
        user[..Math.Min(user.Length, op.Size)].CopyTo(ucmd.Cmd);
        var err = op.Run(ucmd);
        if (ucmd.Responded)
            ucmd.Cmd.AsSpan(0, Math.Min(user.Length, op.Size)).CopyTo(user);
        return err;
    }

    /// <summary>The last fd referring to the file was closed: the context is closed.</summary>
    public void Release() => Ctx.Close();

    /// <summary>A command in flight (Linux struct iommufd_ucmd): the kernel's copy of the struct.</summary>
    private sealed class Ucmd(byte[] cmd)
    {
        public byte[] Cmd { get; } = cmd;

        public bool Responded { get; private set; }

        /// <summary>iommufd_ucmd_respond: the struct goes back, as much of it as user space gave room for.</summary>
        public void Respond(ReadOnlySpan<byte> answer)
        {
            answer.CopyTo(Cmd);
            Responded = true;
        }
    }
}
