using Driver.Hw.Kvm;
using Driver.Kernel.Mm;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A vCPU's exit to the VMM, the part of struct kvm_run the VMM reads: for KVM_EXIT_HYPERCALL of
/// KVM_HC_MAP_GPA_RANGE (what an SNP guest's page-state change becomes) the guest range and the
/// attributes it asks for. The VMM answers with <see cref="KvmVcpu.CompletePageStateChange"/>.
/// </summary>
public sealed record KvmExit
{
    public required KvmExitReason Reason { get; init; }

    public KvmHypercallNr Nr { get; init; }

    /// <summary>args[0]: the first guest-physical address.</summary>
    public ulong Gpa { get; init; }

    /// <summary>args[1]: the number of 4K pages.</summary>
    public ulong Npages { get; init; }

    /// <summary>args[2]: <see cref="KvmMapGpaRangeFlags"/>.</summary>
    public ulong Attributes { get; init; }

    /// <summary>The vCPU that exited.</summary>
    public required int Vcpu { get; init; }

    public ulong Size => Npages << Page.Shift;

    /// <summary>KVM_MAP_GPA_RANGE_ENCRYPTED: the guest asks for private memory.</summary>
    public bool ToPrivate => (Attributes & (ulong)KvmMapGpaRangeFlags.Encrypted) != 0;
}
