using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// Typed calls for C# callers (what iommufd_utils.h is to Linux's selftests): each builds its
/// uAPI struct through the generated layout, calls <see cref="IommufdFile.Ioctl"/> and reads
/// the answer back. Nothing here decides anything the ioctl would not.
/// </summary>
public sealed class IommufdUtils(IommufdFile file)
{
    public IommufdFile File { get; } = file ?? throw new ArgumentNullException(nameof(file));

    private delegate void Writer(Span<byte> destination);

    private Errno Call(Uapi.IommufdCmd cmd, int size, Writer write, out byte[] answer)
    {
        answer = new byte[size];
        write(answer);
        return File.Ioctl(IommufdFile.Command(cmd), answer);
    }

    public Errno Destroy(uint id) =>
        Call(Uapi.IommufdCmd.Destroy, Uapi.IommuDestroy.Bytes, default(Uapi.IommuDestroy).WithSize(Uapi.IommuDestroy.Bytes).WithId(id).CopyTo, out _);

    public Errno IoasAlloc(out uint id)
    {
        var err = Call(Uapi.IommufdCmd.IoasAlloc, Uapi.IommuIoasAlloc.Bytes, default(Uapi.IommuIoasAlloc).WithSize(Uapi.IommuIoasAlloc.Bytes).CopyTo, out var answer);
        id = Uapi.IommuIoasAlloc.FromBytes(answer).OutIoasId;
        return err;
    }

    public Errno IoasMap(uint ioasId, ulong uva, ulong length, ref ulong iova, IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova)
    {
        var cmd = default(Uapi.IommuIoasMap).WithSize(Uapi.IommuIoasMap.Bytes).WithFlags((uint)flags).WithIoasId(ioasId)
            .WithUserVa(uva).WithLength(length).WithIova(iova);
        var err = Call(Uapi.IommufdCmd.IoasMap, Uapi.IommuIoasMap.Bytes, cmd.CopyTo, out var answer);
        iova = Uapi.IommuIoasMap.FromBytes(answer).Iova;
        return err;
    }

    /// <summary>IOAS_MAP without FIXED_IOVA: the kernel picks the IOVA.</summary>
    public Errno IoasMapAuto(uint ioasId, ulong uva, ulong length, out ulong iova, IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.Writeable)
    {
        iova = 0;
        return IoasMap(ioasId, uva, length, ref iova, flags & ~IoasMapFlags.FixedIova);
    }

    public Errno IoasMapFile(uint ioasId, int fd, ulong start, ulong length, ref ulong iova, IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova)
    {
        var cmd = default(Uapi.IommuIoasMapFile).WithSize(Uapi.IommuIoasMapFile.Bytes).WithFlags((uint)flags).WithIoasId(ioasId)
            .WithFd((uint)fd).WithStart(start).WithLength(length).WithIova(iova);
        var err = Call(Uapi.IommufdCmd.IoasMapFile, Uapi.IommuIoasMapFile.Bytes, cmd.CopyTo, out var answer);
        iova = Uapi.IommuIoasMapFile.FromBytes(answer).Iova;
        return err;
    }

    /// <summary>The proposed IOAS_MAP_GUEST_MEMFD (seed 004; not upstream): binds IOVA to a guest_memfd range.</summary>
    public Errno IoasMapGuestMemfd(uint ioasId, int fd, ulong offset, ulong length, ref ulong iova,
        IoasMapGuestMemfdFlags flags = IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable | IoasMapGuestMemfdFlags.FixedIova)
    {
        var cmd = default(Uapi.IommuIoasMapGuestMemfd).WithSize(Uapi.IommuIoasMapGuestMemfd.Bytes).WithFlags((uint)flags).WithIoasId(ioasId)
            .WithFd((uint)fd).WithOffset(offset).WithLength(length).WithIova(iova);
        var answer = new byte[Uapi.IommuIoasMapGuestMemfd.Bytes];
        cmd.CopyTo(answer);
        var err = File.Ioctl(IommufdFile.Command(Uapi.IommufdProposedCmd.IoasMapGuestMemfd), answer);
        iova = Uapi.IommuIoasMapGuestMemfd.FromBytes(answer).Iova;
        return err;
    }

    /// <summary>The proposed command with Refresh: after a conversion, map what the range's new state allows.</summary>
    public Errno IoasRefreshGuestMemfd(uint ioasId, int fd, ulong offset, ulong length, ulong iova) =>
        IoasMapGuestMemfd(ioasId, fd, offset, length, ref iova,
            IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable | IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.Refresh);

    public Errno IoasUnmap(uint ioasId, ulong iova, ulong length, out ulong unmapped)
    {
        var cmd = default(Uapi.IommuIoasUnmap).WithSize(Uapi.IommuIoasUnmap.Bytes).WithIoasId(ioasId).WithIova(iova).WithLength(length);
        var err = Call(Uapi.IommufdCmd.IoasUnmap, Uapi.IommuIoasUnmap.Bytes, cmd.CopyTo, out var answer);
        unmapped = err == Errno.Ok ? Uapi.IommuIoasUnmap.FromBytes(answer).Length : 0;
        return err;
    }

    public Errno IoasUnmap(uint ioasId, ulong iova, ulong length) => IoasUnmap(ioasId, iova, length, out _);

    public Errno IoasCopy(uint dstIoasId, uint srcIoasId, ulong srcIova, ulong length, ref ulong dstIova,
        IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova)
    {
        var cmd = default(Uapi.IommuIoasCopy).WithSize(Uapi.IommuIoasCopy.Bytes).WithFlags((uint)flags).WithDstIoasId(dstIoasId)
            .WithSrcIoasId(srcIoasId).WithLength(length).WithDstIova(dstIova).WithSrcIova(srcIova);
        var err = Call(Uapi.IommufdCmd.IoasCopy, Uapi.IommuIoasCopy.Bytes, cmd.CopyTo, out var answer);
        dstIova = Uapi.IommuIoasCopy.FromBytes(answer).DstIova;
        return err;
    }

    /// <summary>IOAS_IOVA_RANGES into an array of <paramref name="numIovas"/> ranges at user VA <paramref name="ranges"/>; the count needed comes back.</summary>
    public Errno IoasIovaRanges(uint ioasId, ulong ranges, ref uint numIovas, out ulong alignment)
    {
        var cmd = default(Uapi.IommuIoasIovaRanges).WithSize(Uapi.IommuIoasIovaRanges.Bytes).WithIoasId(ioasId)
            .WithNumIovas(numIovas).WithAllowedIovas(ranges);
        var err = Call(Uapi.IommufdCmd.IoasIovaRanges, Uapi.IommuIoasIovaRanges.Bytes, cmd.CopyTo, out var answer);
        var back = Uapi.IommuIoasIovaRanges.FromBytes(answer);
        numIovas = back.NumIovas;
        alignment = back.OutIovaAlignment;
        return err;
    }

    public Errno IoasAllowIovas(uint ioasId, ulong ranges, uint numIovas)
    {
        var cmd = default(Uapi.IommuIoasAllowIovas).WithSize(Uapi.IommuIoasAllowIovas.Bytes).WithIoasId(ioasId)
            .WithNumIovas(numIovas).WithAllowedIovas(ranges);
        return Call(Uapi.IommufdCmd.IoasAllowIovas, Uapi.IommuIoasAllowIovas.Bytes, cmd.CopyTo, out _);
    }

    public Errno Option(Uapi.IommufdOption option, Uapi.IommufdOptionOp op, uint objectId, ref ulong value)
    {
        var cmd = default(Uapi.IommuOption).WithSize(Uapi.IommuOption.Bytes).WithOptionId(option).WithOp(op)
            .WithObjectId(objectId).WithVal64(value);
        var err = Call(Uapi.IommufdCmd.Option, Uapi.IommuOption.Bytes, cmd.CopyTo, out var answer);
        value = Uapi.IommuOption.FromBytes(answer).Val64;
        return err;
    }

    public Errno HwptAlloc(uint devId, uint ptId, HwptAllocFlags flags, out uint hwptId)
    {
        var cmd = default(Uapi.IommuHwptAlloc).WithSize(Uapi.IommuHwptAlloc.Bytes).WithFlags((uint)flags).WithDevId(devId).WithPtId(ptId);
        var err = Call(Uapi.IommufdCmd.HwptAlloc, Uapi.IommuHwptAlloc.Bytes, cmd.CopyTo, out var answer);
        hwptId = Uapi.IommuHwptAlloc.FromBytes(answer).OutHwptId;
        return err;
    }

    public Errno GetHwInfo(uint devId, ulong data, ref uint dataLen, out Uapi.HwInfoType type, out ulong capabilities)
    {
        var cmd = default(Uapi.IommuHwInfo).WithSize(Uapi.IommuHwInfo.Bytes).WithDevId(devId).WithDataLen(dataLen).WithDataUptr(data);
        var err = Call(Uapi.IommufdCmd.GetHwInfo, Uapi.IommuHwInfo.Bytes, cmd.CopyTo, out var answer);
        var back = Uapi.IommuHwInfo.FromBytes(answer);
        dataLen = back.DataLen;
        type = back.OutDataType;
        capabilities = back.OutCapabilities;
        return err;
    }

    public Errno HwptSetDirtyTracking(uint hwptId, bool enable)
    {
        var cmd = default(Uapi.IommuHwptSetDirtyTracking).WithSize(Uapi.IommuHwptSetDirtyTracking.Bytes)
            .WithFlags(enable ? (uint)Uapi.HwptSetDirtyTrackingFlags.Enable : 0).WithHwptId(hwptId);
        return Call(Uapi.IommufdCmd.HwptSetDirtyTracking, Uapi.IommuHwptSetDirtyTracking.Bytes, cmd.CopyTo, out _);
    }

    public Errno HwptGetDirtyBitmap(uint hwptId, ulong iova, ulong length, ulong pageSize, ulong data, bool noClear = false)
    {
        var cmd = default(Uapi.IommuHwptGetDirtyBitmap).WithSize(Uapi.IommuHwptGetDirtyBitmap.Bytes).WithHwptId(hwptId)
            .WithFlags(noClear ? (uint)Uapi.HwptGetDirtyBitmapFlags.NoClear : 0).WithIova(iova).WithLength(length)
            .WithPageSize(pageSize).WithData(data);
        return Call(Uapi.IommufdCmd.HwptGetDirtyBitmap, Uapi.IommuHwptGetDirtyBitmap.Bytes, cmd.CopyTo, out _);
    }
}
