using Driver.Kernel.Psp;

namespace Driver.Kernel.Kvm;

/// <summary>An SNP VM's part of KVM's struct kvm_sev_info: its ASID, guest context and launch state.</summary>
public sealed class KvmSev
{
    internal KvmSev(SevDevice device, SevAsidPool asids, ushort asid, SnpGuestMemfdArch arch)
    {
        Device = device;
        Asids = asids;
        Asid = asid;
        Arch = arch;
    }

    public SevDevice Device { get; }

    internal SevAsidPool Asids { get; }

    /// <summary>The ASID taken at creation (sev_asid_new); the guest's RMP entries carry it.</summary>
    public ushort Asid { get; }

    /// <summary>The RMP part of the VM's guest memory.</summary>
    public SnpGuestMemfdArch Arch { get; }

    /// <summary>The guest context from SNP_LAUNCH_START (GCTX_CREATE, then ACTIVATE); null before and after decommission.</summary>
    public SnpGuestContext? Context { get; internal set; }

    /// <summary>True once the ASID is bound to the context (SNP_ACTIVATE): the guest may run.</summary>
    public bool Active => Context is { Alive: true, Asid: not 0 };
}
