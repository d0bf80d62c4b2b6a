using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Kvm;

/// <summary>
/// What the generic page table asks of its owner, for a VM's stage-2 table: a flush is the VM's
/// kvm_flush_remote_tlbs_range (the machine models no guest TLB, so it is counted); the root never
/// moves (the NPT has a fixed four levels).
/// </summary>
internal sealed class KvmTlbFlusher : IIommuPtDriver
{
    private long _flushes;

    public long Flushes => Interlocked.Read(ref _flushes);

    public void FlushIotlb(ulong iova, ulong last) => Interlocked.Increment(ref _flushes);

    public void ChangeTop(ulong topPa, int topLevel) =>
        throw new InvalidOperationException("BUG: the stage-2 table has a fixed top");
}
