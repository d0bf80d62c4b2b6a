using Driver.Hw.Sev;

namespace Driver.Kernel.Psp;

/// <summary>Guest contexts, as KVM's snp_context_create, snp_bind_asid and snp_decommission_context drive them.</summary>
public sealed partial class SevDevice
{
    /// <summary>
    /// SNP_GCTX_CREATE on a fresh firmware page. ENODEV while SNP is down (nothing is allocated);
    /// on a firmware refusal (EIO and its status) the page is reclaimed and freed, or leaked.
    /// </summary>
    public Errno SnpGctxCreate(out SnpGuestContext? context, out SevStatus status)
    {
        lock (_lock)
        {
            context = null;
            status = SevStatus.Success;
            if (!SnpInitialized)
                return Errno.ENODEV;
            var err = AllocFirmwarePage(SevCommandId.SnpGctxCreate, out ulong page, out status);
            if (err != Errno.Ok)
                return err;
            err = DoCmdWord(SevCommandId.SnpGctxCreate, new SnpGctxCreateBuffer(0).WithGctxPaddr(page).Raw, out status);
            if (err != Errno.Ok)
            {
                Log.SnpCommandError(_logger, SevCommandId.SnpGctxCreate, err, status);
                FreeFirmwarePage(page);
                return err;
            }
            context = new SnpGuestContext(page);
            Log.GuestContext(_logger, page, "created");
            return Errno.Ok;
        }
    }

    /// <summary>
    /// SNP_ACTIVATE: binds the guest to <paramref name="asid"/> (buffer: the context's address, then the
    /// ASID). A DFFLUSH_REQUIRED answer (the ASID was used before) is flushed and retried once. EINVAL for ASID 0, a dead context or one already bound; the firmware's status otherwise.
    /// </summary>
    public Errno SnpActivate(SnpGuestContext context, ushort asid, out SevStatus status)
    {
        ArgumentNullException.ThrowIfNull(context);
        status = SevStatus.Success;
        if (asid == 0 || !context.Alive || context.Asid != 0)
            return Errno.EINVAL;
        lock (_lock)
        {
            var err = Activate(context, asid, out status);
            if (err == Errno.EIO && status == SevStatus.DfflushRequired)
            {
                // The ASID's last guest may still have lines in the caches: flush, as KVM does when it recycles ASIDs.
                Log.AsidNeedsDfFlush(_logger, asid);
                if (DoCmdLocked(SevCommandId.SnpDfFlush, [], out status) == Errno.Ok)
                    err = Activate(context, asid, out status);
            }
            err = Checked(SevCommandId.SnpActivate, err, status);
            if (err == Errno.Ok)
                context.Asid = asid;
            return err;
        }
    }

    /// <summary>
    /// SNP_DECOMMISSION, then the context page reclaimed and freed (leaked if it cannot be reclaimed).
    /// When firmware refuses, the context stays alive and nothing else changes, as in Linux.
    /// </summary>
    public Errno SnpDecommission(SnpGuestContext context, out SevStatus status)
    {
        ArgumentNullException.ThrowIfNull(context);
        status = SevStatus.Success;
        if (!context.Alive)
            return Errno.EINVAL;
        lock (_lock)
        {
            var err = Checked(SevCommandId.SnpDecommission,
                DoCmdWord(SevCommandId.SnpDecommission, new SnpDecommissionBuffer(0).WithGctxPaddr(context.Pa).Raw, out status), status);
            if (err != Errno.Ok)
                return err;
            context.Alive = false;
            Log.GuestContext(_logger, context.Pa, "decommissioned");
            return FreeFirmwarePage(context.Pa);
        }
    }

    private Errno Activate(SnpGuestContext context, ushort asid, out SevStatus status)
    {
        Span<ulong> buffer = stackalloc ulong[SnpActivateBuffer.Words];
        default(SnpActivateBuffer).WithGctxPaddr(context.Pa).WithAsid(asid).CopyTo(buffer);
        return DoCmdLocked(SevCommandId.SnpActivate, buffer, out status);
    }
}
