using Driver.Kernel.Mm;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommufd;

public sealed partial class IommufdFile
{
    private const IoasMapFlags MapFlags = IoasMapFlags.FixedIova | IoasMapFlags.Writeable | IoasMapFlags.Readable;

    private Errno Destroy(Ucmd ucmd)
    {
        var cmd = Uapi.IommuDestroy.FromBytes(ucmd.Cmd);
        return Ctx.Destroy(cmd.Id);
    }

    private Errno IoasAlloc(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasAlloc.FromBytes(ucmd.Cmd);
        if (cmd.Flags != 0)
            return Errno.EOPNOTSUPP;
        var err = Ctx.IoasAlloc(out uint id);
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithOutIoasId(id).CopyTo);
        return Errno.Ok;
    }

    private Errno IoasIovaRanges(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasIovaRanges.FromBytes(ucmd.Cmd);
        if (!cmd.IsValid)
            return Errno.EOPNOTSUPP;
        var err = Ctx.IoasIovaRanges(cmd.IoasId, out var ranges, out ulong alignment);
        if (err != Errno.Ok)
            return err;
        uint max = cmd.NumIovas;
        Span<byte> elm = stackalloc byte[Uapi.IommuIovaRange.Bytes];
        for (int i = 0; i < ranges.Count && (uint)i < max; i++)
        {
            default(Uapi.IommuIovaRange).WithStart(ranges[i].Start).WithLast(ranges[i].Last).CopyTo(elm);
            if (Mm.CopyToUser(cmd.AllowedIovas + ((ulong)i * (ulong)elm.Length), elm) != Errno.Ok)
                return Errno.EFAULT;
        }
        Respond(ucmd, cmd.WithNumIovas((uint)ranges.Count).WithOutIovaAlignment(alignment).CopyTo);
        // The count goes back even when the array was too small, so user space can retry with room.
        return (uint)ranges.Count > max ? Errno.EMSGSIZE : Errno.Ok;
    }

    private Errno IoasAllowIovas(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasAllowIovas.FromBytes(ucmd.Cmd);
        if (!cmd.IsValid)
            return Errno.EOPNOTSUPP;
        var elm = new byte[Uapi.IommuIovaRange.Bytes];
        return Ctx.IoasAllowIovas(cmd.IoasId, cmd.NumIovas, (uint i, out ulong start, out ulong last) =>
        {
            start = last = 0;
            if (Mm.CopyFromUser(cmd.AllowedIovas + ((ulong)i * (ulong)elm.Length), elm) != Errno.Ok)
                return Errno.EFAULT;
            var range = Uapi.IommuIovaRange.FromBytes(elm);
            start = range.Start;
            last = range.Last;
            return Errno.Ok;
        });
    }

    // The checks IOAS_MAP, IOAS_MAP_FILE and IOAS_COPY share, in Linux's order.
    private static Errno CheckMap(uint flags, bool reservedSet, ReadOnlySpan<ulong> addresses)
    {
        if ((flags & ~(uint)MapFlags) != 0 || reservedSet)
            return Errno.EOPNOTSUPP;
        foreach (ulong value in addresses)
        {
            if (value == ulong.MaxValue)
                return Errno.EOVERFLOW;
        }
        if ((flags & (uint)(IoasMapFlags.Readable | IoasMapFlags.Writeable)) == 0)
            return Errno.EINVAL;
        return Errno.Ok;
    }

    private Errno IoasMap(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasMap.FromBytes(ucmd.Cmd);
        var err = CheckMap(cmd.Flags, !cmd.IsValid, [cmd.Iova, cmd.Length]);
        if (err != Errno.Ok)
            return err;
        err = Ctx.GetIoas(cmd.IoasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        ulong iova = cmd.Iova;
        err = Ctx.IoasMapPages(ioas!, new UserPagesProvider(Mm), cmd.UserVa, cmd.Length, writableSource: true, (IoasMapFlags)cmd.Flags, ref iova);
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithIova(iova).CopyTo);
        return Errno.Ok;
    }

    private Errno IoasMapFile(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasMapFile.FromBytes(ucmd.Cmd);
        var err = CheckMap(cmd.Flags, false, [cmd.Iova, cmd.Length]);
        if (err != Errno.Ok)
            return err;
        err = Ctx.GetIoas(cmd.IoasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        if (Fds.Get((int)cmd.Fd, out var file) != Errno.Ok)
            return Errno.EBADF;
        // Only a memfd (shmem) can be mapped by offset, as Linux requires.
        if (file is not MemFdHandle memfd)
            return Errno.EOPNOTSUPP;
        ulong iova = cmd.Iova;
        err = Ctx.IoasMapPages(ioas!, new FilePagesProvider(memfd), cmd.Start, cmd.Length, memfd.Writable, (IoasMapFlags)cmd.Flags, ref iova);
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithIova(iova).CopyTo);
        return Errno.Ok;
    }

    private Errno IoasCopy(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasCopy.FromBytes(ucmd.Cmd);
        var err = CheckMap(cmd.Flags, false, [cmd.Length, cmd.SrcIova, cmd.DstIova]);
        if (err != Errno.Ok)
            return err;
        ulong dst = cmd.DstIova;
        err = Ctx.IoasCopy(cmd.DstIoasId, cmd.SrcIoasId, cmd.SrcIova, cmd.Length, (IoasMapFlags)cmd.Flags, ref dst);
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithDstIova(dst).CopyTo);
        return Errno.Ok;
    }

    private Errno IoasUnmap(Ucmd ucmd)
    {
        var cmd = Uapi.IommuIoasUnmap.FromBytes(ucmd.Cmd);
        var err = Ctx.IoasUnmap(cmd.IoasId, cmd.Iova, cmd.Length, out ulong unmapped);
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithLength(unmapped).CopyTo);
        return Errno.Ok;
    }

    private Errno Option(Ucmd ucmd)
    {
        var cmd = Uapi.IommuOption.FromBytes(ucmd.Cmd);
        if (!cmd.IsValid)
            return Errno.EOPNOTSUPP;
        ulong value = cmd.Val64;
        Errno err;
        switch (cmd.OptionId)
        {
            case Uapi.IommufdOption.RlimitMode:
                if (cmd.ObjectId != 0)
                    return Errno.EOPNOTSUPP;
                if (cmd.Op == Uapi.IommufdOptionOp.Get)
                {
                    value = Ctx.RlimitMode;
                    err = Errno.Ok;
                }
                else if (cmd.Op == Uapi.IommufdOptionOp.Set)
                    err = Ctx.SetRlimitMode(value);
                else
                    err = Errno.EOPNOTSUPP;
                break;
            case Uapi.IommufdOption.HugePages:
                err = Ctx.GetIoas(cmd.ObjectId, out _);
                if (err != Errno.Ok)
                    return err;
                err = cmd.Op switch
                {
                    Uapi.IommufdOptionOp.Get => Ctx.IoasOptionHugePages(cmd.ObjectId, set: false, ref value),
                    Uapi.IommufdOptionOp.Set => Ctx.IoasOptionHugePages(cmd.ObjectId, set: true, ref value),
                    _ => Errno.EOPNOTSUPP,
                };
                break;
            default:
                return Errno.EOPNOTSUPP;
        }
        if (err != Errno.Ok)
            return err;
        Respond(ucmd, cmd.WithVal64(value).CopyTo);
        return Errno.Ok;
    }

    private delegate void StructWriter(Span<byte> destination);

    private static void Respond(Ucmd ucmd, StructWriter write)
    {
        var answer = new byte[ucmd.Cmd.Length];
        write(answer);
        ucmd.Respond(answer);
    }
}
