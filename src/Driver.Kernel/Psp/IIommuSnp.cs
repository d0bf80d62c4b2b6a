namespace Driver.Kernel.Psp;

/// <summary>
/// What the PSP driver needs of the IOMMU driver around SNP: the precondition Linux checks before
/// SNP_INIT (amd_iommu_snp_enable), the pages firmware takes over at SNP_INIT and hands back in
/// the Reclaim state at SNP_SHUTDOWN_EX (the event log and the completion-wait page), and making
/// them shared again after the shutdown (amd_iommu_snp_disable).
/// </summary>
public interface IIommuSnp
{
    /// <summary>Ok when the IOMMU can run with SNP on; its errno otherwise.</summary>
    Errno SnpEnable();

    /// <summary>The 4 KiB pages firmware owns while SNP is on.</summary>
    IReadOnlyList<ulong> SnpPages();

    /// <summary>After SNP_SHUTDOWN_EX: those pages become hypervisor pages again; the IOMMU driver's errno.</summary>
    Errno SnpDisable();
}
