using Driver.Hw.Sev;
using Driver.Kernel.Psp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>The SNP VM: sev_guest_init for KVM_X86_SNP_VM, snp_launch_start, and sev_vm_destroy.</summary>
public sealed partial class KvmVm
{
    /// <summary>
    /// KVM_CREATE_VM of type KVM_X86_SNP_VM then KVM_SEV_INIT2: the SNP platform is brought up if it is not
    /// (its errno otherwise, ENODEV without a PSP), an ASID is taken (EBUSY when none is free), the stage-2 root
    /// allocated (ENOMEM); nothing stays taken on failure. Its guest_memfd files have no INIT_SHARED and use
    /// <see cref="SnpGuestMemfdArch"/>.
    /// </summary>
    public static Errno CreateSnp(KvmSnpConfig config, out KvmVm? vm)
    {
        ArgumentNullException.ThrowIfNull(config);
        vm = null;
        var logger = (config.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Kvm.KvmVm");
        Errno e = config.Sev.SnpInit(out SevStatus status);
        if (e != Errno.Ok)
        {
            Log.SnpVmRefused(logger, e, status, "the SNP platform is not up");
            return e;
        }
        e = config.Asids.Alloc(out ushort asid);
        if (e != Errno.Ok)
        {
            Log.SnpVmRefused(logger, e, SevStatus.Success, "no free ASID");
            return e;
        }
        ISnpRmpHelpers rmp = config.Rmp ?? new SevRmpHelpers(config.Sev, config.Cpu);
        SnpGuestMemfdArch? arch = null;
        var options = new GuestMemfdOptions { HugePages = config.HugePages, SupportsInitShared = false, LoggerFactory = config.LoggerFactory };
        e = Create(config.Pages, config.Memory, config.Fds, config.TableFrames, out vm, options,
            v => arch = new SnpGuestMemfdArch(rmp, asid, v, config.LoggerFactory));
        if (e != Errno.Ok)
        {
            config.Asids.Free(asid);
            Log.SnpVmRefused(logger, e, SevStatus.Success, "no frame for the stage-2 root");
            return e;
        }
        vm!.Sev = new KvmSev(config.Sev, config.Asids, asid, arch!);
        Log.SnpVmCreated(vm._logger, asid);
        return Errno.Ok;
    }

    /// <summary>
    /// KVM_SEV_SNP_LAUNCH_START, as far as it is modelled (the measured launch is not): the guest context
    /// (SNP_GCTX_CREATE) and the ASID bound to it (SNP_ACTIVATE, after SNP_DF_FLUSH when the ASID was used
    /// before). ENOTTY for a VM that is not SNP; EINVAL when a context exists already or the VM is destroyed;
    /// the PSP's errno and <paramref name="status"/> otherwise, the context decommissioned again if ACTIVATE failed.
    /// </summary>
    public Errno SnpLaunchStart(out SevStatus status)
    {
        status = SevStatus.Success;
        if (Sev is not { } sev)
            return Errno.ENOTTY;
        lock (_lock)
        {
            if (_destroyed || sev.Context is not null)
                return Errno.EINVAL;
            Errno e = sev.Device.SnpGctxCreate(out SnpGuestContext? context, out status);
            if (e != Errno.Ok)
            {
                Log.SnpLaunchFailed(_logger, sev.Asid, "SNP_GCTX_CREATE", e, status);
                return e;
            }
            e = sev.Device.SnpActivate(context!, sev.Asid, out status);
            if (e != Errno.Ok)
            {
                Log.SnpLaunchFailed(_logger, sev.Asid, "SNP_ACTIVATE", e, status);
                sev.Device.SnpDecommission(context!, out _);
                return e;
            }
            sev.Context = context;
            Log.SnpLaunched(_logger, sev.Asid, context!.Pa);
            return Errno.Ok;
        }
    }

    /// <summary>
    /// The last reference to the VM goes (kvm_destroy_vm, sev_vm_destroy): EBUSY while a guest_memfd file of the VM is
    /// still open, since in Linux each file holds the VM (and its ASID must not go to another guest while the RMP
    /// still assigns pages to it). Then every memslot goes, the stage-2 tables are freed, an SNP VM's context is
    /// decommissioned (SNP_DECOMMISSION, the context page reclaimed; its errno is returned, the rest still done)
    /// and its ASID given back. Ok at once when already destroyed.
    /// </summary>
    public Errno Destroy()
    {
        lock (_lock)
        {
            if (_destroyed)
                return Errno.Ok;
            if (_files.Any(f => f.Alive))
            {
                Log.DestroyRefused(_logger, _files.Count(f => f.Alive));
                return Errno.EBUSY;
            }
            _destroyed = true;
            foreach (KvmMemorySlot slot in _slots.Values)
                slot.Binding?.Unbind();
            _slots.Clear();
            Volatile.Write(ref _slotSnapshot, []);
            Stage2?.Destroy();
            if (Sev is not { } sev)
                return Errno.Ok;
            Errno result = Errno.Ok;
            if (sev.Context is { } context)
            {
                result = sev.Device.SnpDecommission(context, out SevStatus status);
                if (result != Errno.Ok)
                    Log.SnpLaunchFailed(_logger, sev.Asid, "SNP_DECOMMISSION", result, status);
                sev.Context = null;
            }
            sev.Asids.Free(sev.Asid);
            Log.SnpVmDestroyed(_logger, sev.Asid);
            return result;
        }
    }
}
