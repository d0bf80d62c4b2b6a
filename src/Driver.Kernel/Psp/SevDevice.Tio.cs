using Driver.Hw.Sev;

namespace Driver.Kernel.Psp;

/// <summary>
/// The SEV-TIO subset: TIO_INIT, and a TDI created, bound to a guest, unbound and reclaimed.
/// Every TIO buffer starts with its own length. Handles are checked before firmware sees them
/// (EINVAL for a dead handle or a bind that does not fit the handle's state).
/// </summary>
public sealed partial class SevDevice
{
    public bool TioInitialized { get; private set; }

    /// <summary>TIO_INIT, after SNP is up with <see cref="SevDeviceConfig.Tio"/>. ENODEV while SNP is down.</summary>
    public Errno TioInit(out SevStatus status)
    {
        lock (_lock)
        {
            status = SevStatus.Success;
            if (!SnpInitialized)
                return Errno.ENODEV;
            var err = Checked(SevCommandId.TioInit,
                DoCmdWord(SevCommandId.TioInit, default(TioInitBuffer).WithLength(sizeof(ulong)).Raw, out status), status);
            if (err == Errno.Ok)
                TioInitialized = true;
            return err;
        }
    }

    /// <summary>TIO_TDI_CREATE for the function <paramref name="deviceId"/> on a fresh firmware page (freed or leaked on a refusal).</summary>
    public Errno TdiCreate(ushort deviceId, out SevTdi? tdi, out SevStatus status)
    {
        lock (_lock)
        {
            tdi = null;
            status = SevStatus.Success;
            if (!SnpInitialized)
                return Errno.ENODEV;
            var err = AllocFirmwarePage(SevCommandId.TioTdiCreate, out ulong page, out status);
            if (err != Errno.Ok)
                return err;
            Span<ulong> buffer = stackalloc ulong[TioTdiCreateBuffer.Words];
            default(TioTdiCreateBuffer).WithLength(TioTdiCreateBuffer.Words * sizeof(ulong)).WithDeviceId(deviceId).WithTdiCtxPaddr(page).CopyTo(buffer);
            err = Checked(SevCommandId.TioTdiCreate, DoCmdLocked(SevCommandId.TioTdiCreate, buffer, out status), status);
            if (err != Errno.Ok)
            {
                FreeFirmwarePage(page);
                return err;
            }
            tdi = new SevTdi(page, deviceId);
            Log.Tdi(_logger, deviceId, "created", 0);
            return Errno.Ok;
        }
    }

    /// <summary>TIO_TDI_BIND: from now on the TDI's trusted requests carry <paramref name="guest"/>'s ASID.</summary>
    public Errno TdiBind(SevTdi tdi, SnpGuestContext guest, out SevStatus status)
    {
        ArgumentNullException.ThrowIfNull(tdi);
        ArgumentNullException.ThrowIfNull(guest);
        status = SevStatus.Success;
        if (!tdi.Alive || !guest.Alive || tdi.Guest is not null)
            return Errno.EINVAL;
        lock (_lock)
        {
            Span<ulong> buffer = stackalloc ulong[TioTdiBindBuffer.Words];
            default(TioTdiBindBuffer).WithLength(TioTdiBindBuffer.Words * sizeof(ulong)).WithTdiCtxPaddr(tdi.Pa).WithGctxPaddr(guest.Pa).CopyTo(buffer);
            var err = Checked(SevCommandId.TioTdiBind, DoCmdLocked(SevCommandId.TioTdiBind, buffer, out status), status);
            if (err != Errno.Ok)
                return err;
            tdi.Guest = guest;
            Log.Tdi(_logger, tdi.DeviceId, "bound", guest.Asid);
            return Errno.Ok;
        }
    }

    /// <summary>TIO_TDI_UNBIND: the TDI's requests are the host's again.</summary>
    public Errno TdiUnbind(SevTdi tdi, out SevStatus status)
    {
        ArgumentNullException.ThrowIfNull(tdi);
        status = SevStatus.Success;
        if (!tdi.Alive || tdi.Guest is null)
            return Errno.EINVAL;
        lock (_lock)
        {
            Span<ulong> buffer = stackalloc ulong[TioTdiUnbindBuffer.Words];
            default(TioTdiUnbindBuffer).WithLength(TioTdiUnbindBuffer.Words * sizeof(ulong)).WithTdiCtxPaddr(tdi.Pa).CopyTo(buffer);
            var err = Checked(SevCommandId.TioTdiUnbind, DoCmdLocked(SevCommandId.TioTdiUnbind, buffer, out status), status);
            if (err != Errno.Ok)
                return err;
            Log.Tdi(_logger, tdi.DeviceId, "unbound", tdi.Guest.Asid);
            tdi.Guest = null;
            return Errno.Ok;
        }
    }

    /// <summary>TIO_TDI_RECLAIM of an unbound TDI, then its context page reclaimed and freed (or leaked).</summary>
    public Errno TdiReclaim(SevTdi tdi, out SevStatus status)
    {
        ArgumentNullException.ThrowIfNull(tdi);
        status = SevStatus.Success;
        if (!tdi.Alive || tdi.Guest is not null)
            return Errno.EINVAL;
        lock (_lock)
        {
            Span<ulong> buffer = stackalloc ulong[TioTdiReclaimBuffer.Words];
            default(TioTdiReclaimBuffer).WithLength(TioTdiReclaimBuffer.Words * sizeof(ulong)).WithTdiCtxPaddr(tdi.Pa).CopyTo(buffer);
            var err = Checked(SevCommandId.TioTdiReclaim, DoCmdLocked(SevCommandId.TioTdiReclaim, buffer, out status), status);
            if (err != Errno.Ok)
                return err;
            tdi.Alive = false;
            Log.Tdi(_logger, tdi.DeviceId, "reclaimed", 0);
            return FreeFirmwarePage(tdi.Pa);
        }
    }
}
