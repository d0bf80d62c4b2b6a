using Driver.Kernel.IommuPt;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Iommufd;

public sealed partial class IommufdFile
{
    private Errno HwptAlloc(Ucmd ucmd)
    {
        var cmd = Uapi.IommuHwptAlloc.FromBytes(ucmd.Cmd);
        if (!cmd.IsValid)
            return Errno.EOPNOTSUPP;
        if ((cmd.DataType == Uapi.HwptDataType.None && cmd.DataLen != 0) || (cmd.DataType != Uapi.HwptDataType.None && cmd.DataLen == 0))
            return Errno.EINVAL;
        var err = Ctx.GetDevice(cmd.DevId, out _);
        if (err != Errno.Ok)
            return err;
        err = Ctx.Objects.Get(cmd.PtId, null, out var pt);
        if (err != Errno.Ok)
            return err;
        // Driver data only makes sense for a nested HWPT, which is not offered.
        if (pt is IommufdIoas && cmd.DataType != Uapi.HwptDataType.None)
            return Errno.EINVAL;
        var flags = (HwptAllocFlags)cmd.Flags;
        err = Ctx.HwptAlloc(cmd.DevId, cmd.PtId, flags & ~HwptAllocFlags.FaultIdValid, out uint hwptId);
        if (err != Errno.Ok)
            return err;
        if ((flags & HwptAllocFlags.FaultIdValid) != 0)
        {
            // No FAULT object can exist here: the fault id is never found.
            Ctx.Destroy(hwptId);
            return Errno.ENOENT;
        }
        Respond(ucmd, cmd.WithOutHwptId(hwptId).CopyTo);
        return Errno.Ok;
    }

    /// <summary>IOMMU_HW_INFO_SELFTEST_REGVAL, what the mock driver's test_reg reads.</summary>
    public const uint SelftestRegval = 0xdeadbeef;

    /// <summary>
    /// iommufd_get_hw_info, in Linux's order: EOPNOTSUPP for unknown flags or reserved bytes; the
    /// type field is an input only with IOMMU_HW_INFO_FLAG_INPUT_TYPE; ENOENT for a bad device; the
    /// driver's errno (EOPNOTSUPP for a type it does not have); EFAULT for the user buffer, which
    /// gets min(data_len, the driver's length) bytes and zeroes after them. data_len comes back as
    /// the driver's length; out_capabilities as IOMMU_CAP_DIRTY_TRACKING and the negative
    /// IOMMU_CAP_PCI_ATS_SUPPORTED say; the machine's devices have no PASID (out_max_pasid_log2 0).
    /// </summary>
    private Errno GetHwInfo(Ucmd ucmd)
    {
        var cmd = Uapi.IommuHwInfo.FromBytes(ucmd.Cmd);
        if ((cmd.Flags & ~(uint)Uapi.HwInfoFlags.InputType) != 0 || !cmd.IsValid)
            return Errno.EOPNOTSUPP;
        uint type = (cmd.Flags & (uint)Uapi.HwInfoFlags.InputType) != 0 ? (uint)cmd.OutDataType : 0;
        var err = Ctx.GetDevice(cmd.DevId, out var device);
        if (err != Errno.Ok)
            return err;
        byte[] data = [];
        if (Ctx.Subsystem.HwInfo is { } info)
        {
            err = info.HwInfo(device!.DeviceId, ref type, out data);
            if (err != Errno.Ok)
                return err;
            // A driver with hw_info has a type of its own (Linux WARNs and refuses).
            if (type == (uint)Uapi.HwInfoType.None)
                return Errno.EOPNOTSUPP;
        }
        else
        {
            type = (uint)Uapi.HwInfoType.None;
        }
        int copy = (int)Math.Min(cmd.DataLen, (uint)data.Length);
        if (copy != 0 && Mm.CopyToUser(cmd.DataUptr, data.AsSpan(0, copy)) != Errno.Ok)
            return Errno.EFAULT;
        if (cmd.DataLen > (uint)copy && Mm.CopyToUser(cmd.DataUptr + (ulong)copy, new byte[cmd.DataLen - (uint)copy]) != Errno.Ok)
            return Errno.EFAULT;
        var caps = Ctx.Subsystem.Core.GroupOf(device!.DeviceId)?.Caps ?? default;
        ulong capabilities = 0;
        if (device.DirtyCapable)
            capabilities |= (ulong)Uapi.HwCapabilities.DirtyTracking;
        if (!caps.PciAts)
            capabilities |= (ulong)Uapi.HwCapabilities.PciAtsNotSupported;
        var answer = cmd.WithDataLen((uint)data.Length).WithOutDataType((Uapi.HwInfoType)type).WithOutCapabilities(capabilities).WithOutMaxPasidLog2(0);
        Respond(ucmd, answer.CopyTo);
        return Errno.Ok;
    }

    private Errno HwptSetDirtyTracking(Ucmd ucmd)
    {
        var cmd = Uapi.IommuHwptSetDirtyTracking.FromBytes(ucmd.Cmd);
        if ((cmd.Flags & ~(uint)Uapi.HwptSetDirtyTrackingFlags.Enable) != 0 || !cmd.IsValid)
            return Errno.EOPNOTSUPP;
        return Ctx.HwptSetDirtyTracking(cmd.HwptId, (cmd.Flags & (uint)Uapi.HwptSetDirtyTrackingFlags.Enable) != 0);
    }

    private Errno HwptGetDirtyBitmap(Ucmd ucmd)
    {
        var cmd = Uapi.IommuHwptGetDirtyBitmap.FromBytes(ucmd.Cmd);
        if ((cmd.Flags & ~(uint)Uapi.HwptGetDirtyBitmapFlags.NoClear) != 0 || !cmd.IsValid)
            return Errno.EOPNOTSUPP;
        var flags = (cmd.Flags & (uint)Uapi.HwptGetDirtyBitmapFlags.NoClear) != 0 ? DirtyFlags.NoClear : DirtyFlags.None;
        // A first pass that clears nothing checks the range; the user's bitmap must be there
        // before any dirty bit is cleared, or the bits would be lost.
        var err = Ctx.HwptGetDirtyBitmap(cmd.HwptId, cmd.Iova, cmd.Length, cmd.PageSize, DirtyFlags.NoClear, out var bitmap);
        if (err != Errno.Ok)
            return err;
        var bytes = new byte[(bitmap!.Pages + 7) / 8];
        if (Mm.CopyFromUser(cmd.Data, bytes) != Errno.Ok)
            return Errno.EFAULT;
        if (flags != DirtyFlags.NoClear)
        {
            err = Ctx.HwptGetDirtyBitmap(cmd.HwptId, cmd.Iova, cmd.Length, cmd.PageSize, flags, out bitmap);
            if (err != Errno.Ok)
                return err;
        }
        // The bits are ORed into the user's bitmap, as iova_bitmap sets bits in the pinned user pages.
        for (ulong page = 0; page < bitmap!.Pages; page++)
        {
            if (bitmap.IsSet(cmd.Iova + (page << bitmap.PageLg2)))
                bytes[page / 8] |= (byte)(1 << (int)(page % 8));
        }
        return Mm.CopyToUser(cmd.Data, bytes) == Errno.Ok ? Errno.Ok : Errno.EFAULT;
    }
}
