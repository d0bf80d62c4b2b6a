using Hw = Driver.Hw.Iommufd;

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

    private Errno Call(Hw.IommufdCmd cmd, int size, Writer write, out byte[] answer)
    {
        answer = new byte[size];
        write(answer);
        return File.Ioctl(IommufdFile.Command(cmd), answer);
    }

    public Errno Destroy(uint id) =>
        Call(Hw.IommufdCmd.Destroy, Hw.IommuDestroy.Bytes, default(Hw.IommuDestroy).WithSize(Hw.IommuDestroy.Bytes).WithId(id).CopyTo, out _);

    public Errno IoasAlloc(out uint id)
    {
        var err = Call(Hw.IommufdCmd.IoasAlloc, Hw.IommuIoasAlloc.Bytes, default(Hw.IommuIoasAlloc).WithSize(Hw.IommuIoasAlloc.Bytes).CopyTo, out var answer);
        id = Hw.IommuIoasAlloc.FromBytes(answer).OutIoasId;
        return err;
    }

    public Errno IoasMap(uint ioasId, ulong uva, ulong length, ref ulong iova, IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova)
    {
        var cmd = default(Hw.IommuIoasMap).WithSize(Hw.IommuIoasMap.Bytes).WithFlags((uint)flags).WithIoasId(ioasId)
            .WithUserVa(uva).WithLength(length).WithIova(iova);
        var err = Call(Hw.IommufdCmd.IoasMap, Hw.IommuIoasMap.Bytes, cmd.CopyTo, out var answer);
        iova = Hw.IommuIoasMap.FromBytes(answer).Iova;
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
        var cmd = default(Hw.IommuIoasMapFile).WithSize(Hw.IommuIoasMapFile.Bytes).WithFlags((uint)flags).WithIoasId(ioasId)
            .WithFd((uint)fd).WithStart(start).WithLength(length).WithIova(iova);
        var err = Call(Hw.IommufdCmd.IoasMapFile, Hw.IommuIoasMapFile.Bytes, cmd.CopyTo, out var answer);
        iova = Hw.IommuIoasMapFile.FromBytes(answer).Iova;
        return err;
    }

    public Errno IoasUnmap(uint ioasId, ulong iova, ulong length, out ulong unmapped)
    {
        var cmd = default(Hw.IommuIoasUnmap).WithSize(Hw.IommuIoasUnmap.Bytes).WithIoasId(ioasId).WithIova(iova).WithLength(length);
        var err = Call(Hw.IommufdCmd.IoasUnmap, Hw.IommuIoasUnmap.Bytes, cmd.CopyTo, out var answer);
        unmapped = err == Errno.Ok ? Hw.IommuIoasUnmap.FromBytes(answer).Length : 0;
        return err;
    }

    public Errno IoasUnmap(uint ioasId, ulong iova, ulong length) => IoasUnmap(ioasId, iova, length, out _);

    public Errno IoasCopy(uint dstIoasId, uint srcIoasId, ulong srcIova, ulong length, ref ulong dstIova,
        IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova)
    {
        var cmd = default(Hw.IommuIoasCopy).WithSize(Hw.IommuIoasCopy.Bytes).WithFlags((uint)flags).WithDstIoasId(dstIoasId)
            .WithSrcIoasId(srcIoasId).WithLength(length).WithDstIova(dstIova).WithSrcIova(srcIova);
        var err = Call(Hw.IommufdCmd.IoasCopy, Hw.IommuIoasCopy.Bytes, cmd.CopyTo, out var answer);
        dstIova = Hw.IommuIoasCopy.FromBytes(answer).DstIova;
        return err;
    }

    /// <summary>IOAS_IOVA_RANGES into an array of <paramref name="numIovas"/> ranges at user VA <paramref name="ranges"/>; the count needed comes back.</summary>
    public Errno IoasIovaRanges(uint ioasId, ulong ranges, ref uint numIovas, out ulong alignment)
    {
        var cmd = default(Hw.IommuIoasIovaRanges).WithSize(Hw.IommuIoasIovaRanges.Bytes).WithIoasId(ioasId)
            .WithNumIovas(numIovas).WithAllowedIovas(ranges);
        var err = Call(Hw.IommufdCmd.IoasIovaRanges, Hw.IommuIoasIovaRanges.Bytes, cmd.CopyTo, out var answer);
        var back = Hw.IommuIoasIovaRanges.FromBytes(answer);
        numIovas = back.NumIovas;
        alignment = back.OutIovaAlignment;
        return err;
    }

    public Errno IoasAllowIovas(uint ioasId, ulong ranges, uint numIovas)
    {
        var cmd = default(Hw.IommuIoasAllowIovas).WithSize(Hw.IommuIoasAllowIovas.Bytes).WithIoasId(ioasId)
            .WithNumIovas(numIovas).WithAllowedIovas(ranges);
        return Call(Hw.IommufdCmd.IoasAllowIovas, Hw.IommuIoasAllowIovas.Bytes, cmd.CopyTo, out _);
    }

    public Errno Option(Hw.IommufdOption option, Hw.IommufdOptionOp op, uint objectId, ref ulong value)
    {
        var cmd = default(Hw.IommuOption).WithSize(Hw.IommuOption.Bytes).WithOptionId(option).WithOp(op)
            .WithObjectId(objectId).WithVal64(value);
        var err = Call(Hw.IommufdCmd.Option, Hw.IommuOption.Bytes, cmd.CopyTo, out var answer);
        value = Hw.IommuOption.FromBytes(answer).Val64;
        return err;
    }

    public Errno HwptAlloc(uint devId, uint ptId, HwptAllocFlags flags, out uint hwptId)
    {
        var cmd = default(Hw.IommuHwptAlloc).WithSize(Hw.IommuHwptAlloc.Bytes).WithFlags((uint)flags).WithDevId(devId).WithPtId(ptId);
        var err = Call(Hw.IommufdCmd.HwptAlloc, Hw.IommuHwptAlloc.Bytes, cmd.CopyTo, out var answer);
        hwptId = Hw.IommuHwptAlloc.FromBytes(answer).OutHwptId;
        return err;
    }

    public Errno GetHwInfo(uint devId, ulong data, ref uint dataLen, out Hw.HwInfoType type, out ulong capabilities)
    {
        var cmd = default(Hw.IommuHwInfo).WithSize(Hw.IommuHwInfo.Bytes).WithDevId(devId).WithDataLen(dataLen).WithDataUptr(data);
        var err = Call(Hw.IommufdCmd.GetHwInfo, Hw.IommuHwInfo.Bytes, cmd.CopyTo, out var answer);
        var back = Hw.IommuHwInfo.FromBytes(answer);
        dataLen = back.DataLen;
        type = back.OutDataType;
        capabilities = back.OutCapabilities;
        return err;
    }

    public Errno HwptSetDirtyTracking(uint hwptId, bool enable)
    {
        var cmd = default(Hw.IommuHwptSetDirtyTracking).WithSize(Hw.IommuHwptSetDirtyTracking.Bytes)
            .WithFlags(enable ? (uint)Hw.HwptSetDirtyTrackingFlags.Enable : 0).WithHwptId(hwptId);
        return Call(Hw.IommufdCmd.HwptSetDirtyTracking, Hw.IommuHwptSetDirtyTracking.Bytes, cmd.CopyTo, out _);
    }

    public Errno HwptGetDirtyBitmap(uint hwptId, ulong iova, ulong length, ulong pageSize, ulong data, bool noClear = false)
    {
        var cmd = default(Hw.IommuHwptGetDirtyBitmap).WithSize(Hw.IommuHwptGetDirtyBitmap.Bytes).WithHwptId(hwptId)
            .WithFlags(noClear ? (uint)Hw.HwptGetDirtyBitmapFlags.NoClear : 0).WithIova(iova).WithLength(length)
            .WithPageSize(pageSize).WithData(data);
        return Call(Hw.IommufdCmd.HwptGetDirtyBitmap, Hw.IommuHwptGetDirtyBitmap.Bytes, cmd.CopyTo, out _);
    }
}
