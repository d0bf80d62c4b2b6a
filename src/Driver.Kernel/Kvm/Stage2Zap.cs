namespace Driver.Kernel.Kvm;

/// <summary>Which stage-2 leaves a zap removes (Linux's KVM_FILTER_PRIVATE / KVM_FILTER_SHARED, or both).</summary>
public enum Stage2Zap
{
    Private,
    Shared,
    All,
}
