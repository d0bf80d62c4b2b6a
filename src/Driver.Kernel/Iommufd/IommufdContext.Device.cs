using Driver.Kernel.Iommu;

namespace Driver.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>
    /// iommufd_device_bind: ENODEV for a device the IOMMU core does not know; EBUSY when its DMA
    /// is already owned; ENOMEM when the object cannot be allocated. The device is left blocked
    /// (no DMA) until it is attached.
    /// </summary>
    public Errno DeviceBind(ushort deviceId, out uint id)
    {
        id = 0;
        var group = _sys.Core.GroupOf(deviceId);
        if (group is null)
            return Errno.ENODEV;
        var err = _sys.ClaimDmaOwner(deviceId);
        if (err != Errno.Ok)
        {
            Log.OwnershipRefused(_logger, deviceId);
            return err;
        }
        var device = new IommufdDevice(deviceId, group.Caps.DirtyTracking) { OnDestroy = ReleaseDevice };
        err = Alloc(device);
        if (err == Errno.Ok)
            err = _sys.Core.ReplaceDevice(_sys.Core.Blocked, deviceId);
        if (err != Errno.Ok)
        {
            if (device.Id != 0)
                Objects.Abort(device);
            _sys.ReleaseDmaOwner(deviceId);
            return err;
        }
        // The binding driver's reference: user space cannot DESTROY a bound device.
        device.AddUser();
        Objects.Finalize(device);
        id = device.Id;
        Log.DeviceBound(_logger, deviceId, id);
        return Errno.Ok;
    }

    /// <summary>iommufd_device_unbind: detaches, gives DMA ownership back, and destroys the object. ENOENT for a bad id.</summary>
    public Errno DeviceUnbind(uint id)
    {
        var err = GetDevice(id, out var device);
        if (err != Errno.Ok)
            return err;
        device!.RemoveUser();
        err = Objects.Remove(id, out _);
        if (err != Errno.Ok)
        {
            device.AddUser();
            return err;
        }
        device.Destroy();
        return Errno.Ok;
    }

    private void ReleaseDevice(IommufdDevice device)
    {
        if (device.Hwpt is not null)
            Detach(device);
        _sys.Core.ReplaceDevice(_sys.Core.GroupOf(device.DeviceId)!.DefaultDomain, device.DeviceId);
        _sys.ReleaseDmaOwner(device.DeviceId);
    }

    public Errno GetDevice(uint id, out IommufdDevice? device) => Objects.Get(id, IommufdObjectType.Device, out device);

    /// <summary>
    /// iommufd_device_attach: to a HWPT, or to an IOAS (an automatic HWPT of it that the device
    /// can use, else a new one). ENOENT for bad ids; EINVAL when already attached or
    /// <paramref name="ptId"/> is neither an IOAS nor a HWPT. <paramref name="ptId"/> returns the HWPT.
    /// </summary>
    public Errno DeviceAttach(uint devId, ref uint ptId)
    {
        var err = GetDevice(devId, out var device);
        if (err != Errno.Ok)
            return err;
        if (device!.Hwpt is not null)
            return Errno.EINVAL;
        return AttachTo(device, ref ptId);
    }

    /// <summary>iommufd_device_replace: moves an attached device (EINVAL when it is not) to another HWPT or IOAS without a blocked window.</summary>
    public Errno DeviceReplace(uint devId, ref uint ptId)
    {
        var err = GetDevice(devId, out var device);
        if (err != Errno.Ok)
            return err;
        if (device!.Hwpt is not { } old)
            return Errno.EINVAL;
        err = Objects.Get(ptId, null, out var pt);
        if (err != Errno.Ok)
            return err;
        if (pt == old)
            return Errno.Ok;
        device.Hwpt = null;
        err = AttachTo(device, ref ptId);
        if (err != Errno.Ok)
        {
            device.Hwpt = old;
            return err;
        }
        DropHwpt(old);
        return Errno.Ok;
    }

    /// <summary>iommufd_device_detach: back to blocked DMA. EINVAL when not attached.</summary>
    public Errno DeviceDetach(uint devId)
    {
        var err = GetDevice(devId, out var device);
        if (err != Errno.Ok)
            return err;
        if (device!.Hwpt is null)
            return Errno.EINVAL;
        Detach(device);
        return Errno.Ok;
    }

    private void Detach(IommufdDevice device)
    {
        var hwpt = device.Hwpt!;
        _sys.Core.ReplaceDevice(_sys.Core.Blocked, device.DeviceId);
        device.Hwpt = null;
        DropHwpt(hwpt);
    }

    // The device no longer uses the HWPT; an automatic one goes with its last device.
    private void DropHwpt(IommufdHwptPaging hwpt)
    {
        hwpt.RemoveUser();
        if (hwpt.Auto && hwpt.Users == 0 && Objects.Remove(hwpt.Id, out _) == Errno.Ok)
            hwpt.Destroy();
    }

    private Errno AttachTo(IommufdDevice device, ref uint ptId)
    {
        var err = Objects.Get(ptId, null, out var pt);
        if (err != Errno.Ok)
            return err;
        switch (pt)
        {
            case IommufdHwptPaging hwpt:
                return AttachHwpt(device, hwpt);
            case IommufdIoas ioas:
                foreach (var candidate in ioas.AutoHwpts.ToArray())
                {
                    err = AttachHwpt(device, candidate);
                    if (err == Errno.Ok)
                    {
                        ptId = candidate.Id;
                        return Errno.Ok;
                    }
                    // EINVAL from the driver means this domain does not suit the device: try the next.
                    if (err != Errno.EINVAL)
                        return err;
                }
                err = HwptPagingAlloc(ioas, device, HwptAllocFlags.None, auto: true, out var made);
                if (err != Errno.Ok)
                    return err;
                err = AttachHwpt(device, made!);
                if (err != Errno.Ok)
                {
                    Objects.Abort(made!);
                    made!.Destroy();
                    return err;
                }
                Objects.Finalize(made!);
                ptId = made!.Id;
                return Errno.Ok;
            default:
                return Errno.EINVAL;
        }
    }

    private Errno AttachHwpt(IommufdDevice device, IommufdHwptPaging hwpt)
    {
        var err = _sys.Core.ReplaceDevice(hwpt.Domain, device.DeviceId);
        if (err != Errno.Ok)
            return err;
        hwpt.AddUser();
        device.Hwpt = hwpt;
        return Errno.Ok;
    }

    /// <summary>
    /// iommufd_hwpt_paging_alloc: EOPNOTSUPP for flags not offered, or dirty tracking on a device
    /// that cannot; the driver's errno; then the domain joins the IOAS's table (filled from its
    /// areas). The HWPT is reserved, not finalized.
    /// </summary>
    private Errno HwptPagingAlloc(IommufdIoas ioas, IommufdDevice device, HwptAllocFlags flags, bool auto, out IommufdHwptPaging? hwpt)
    {
        hwpt = null;
        if ((flags & ~(HwptAllocFlags.DirtyTracking | HwptAllocFlags.GuestPrivate)) != 0)
            return Errno.EOPNOTSUPP;
        bool dirty = (flags & HwptAllocFlags.DirtyTracking) != 0;
        if (dirty && !device.DirtyCapable)
            return Errno.EOPNOTSUPP;
        if (_sys.ShouldFail())
            return Errno.ENOMEM;
        var err = _sys.Core.AllocPagingDomain(dirty ? DomainAllocFlags.DirtyTracking : DomainAllocFlags.None, out var domain, strict: true);
        if (err != Errno.Ok)
            return err;
        var made = new IommufdHwptPaging(_sys.Core, domain!, ioas, auto, dirty) { GuestPrivate = (flags & HwptAllocFlags.GuestPrivate) != 0 };
        err = Alloc(made);
        if (err != Errno.Ok)
        {
            _sys.Core.FreeDomain(domain!);
            return err;
        }
        ioas.AddUser();
        err = ioas.Iopt.AddDomain(domain!, made.GuestPrivate);
        if (err != Errno.Ok)
        {
            Objects.Abort(made);
            made.Destroy();
            return err;
        }
        made.InTable = true;
        if (auto)
            ioas.AutoHwpts.Add(made);
        hwpt = made;
        return Errno.Ok;
    }

    /// <summary>
    /// IOMMU_HWPT_ALLOC of a paging HWPT on an IOAS: ENOENT for a bad device or pt id; EINVAL
    /// when pt_id is not an IOAS (nesting is not offered); EOPNOTSUPP for flags not offered.
    /// </summary>
    public Errno HwptAlloc(uint devId, uint ptId, HwptAllocFlags flags, out uint hwptId)
    {
        hwptId = 0;
        var err = GetDevice(devId, out var device);
        if (err != Errno.Ok)
            return err;
        err = Objects.Get(ptId, null, out var pt);
        if (err != Errno.Ok)
            return err;
        if (pt is not IommufdIoas ioas)
            return Errno.EINVAL;
        err = HwptPagingAlloc(ioas, device!, flags, auto: false, out var hwpt);
        if (err != Errno.Ok)
            return err;
        Objects.Finalize(hwpt!);
        hwptId = hwpt!.Id;
        return Errno.Ok;
    }

    /// <summary>IOMMU_GET_HW_INFO's kernel half: ENOENT for a bad device; whether its IOMMU tracks dirty pages.</summary>
    public Errno GetHwInfo(uint devId, out bool dirtyTracking)
    {
        dirtyTracking = false;
        var err = GetDevice(devId, out var device);
        if (err != Errno.Ok)
            return err;
        dirtyTracking = device!.DirtyCapable;
        return Errno.Ok;
    }

    /// <summary>
    /// An IO page fault the IOMMU reported for <paramref name="deviceId"/>: counted on the bound
    /// device (false when no device of this context has that id).
    /// </summary>
    public bool ReportFault(ushort deviceId, ulong iova, bool write)
    {
        var device = Objects.Objects.OfType<IommufdDevice>().FirstOrDefault(d => d.DeviceId == deviceId && d.Finalized);
        if (device is null)
            return false;
        device.Faults++;
        device.LastFaultIova = iova;
        Log.IoPageFault(_logger, deviceId, iova, write);
        return true;
    }
}
