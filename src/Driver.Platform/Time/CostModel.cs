namespace Driver.Platform.Time;

/// <summary>
/// What each hardware action costs in simulated nanoseconds. The defaults are
/// orders of magnitude of a current server, not measurements: an uncached MMIO
/// access crosses PCIe, an IOMMU table fetch is a DRAM read, a PSP command is a
/// message to a separate processor. Scenarios compare strategies under the
/// same model, so relative costs matter more than absolute ones.
/// </summary>
public sealed record CostModel
{
    /// <summary>One kernel MMIO read or write.</summary>
    public long MmioAccessNs { get; init; } = 250;

    /// <summary>One kernel access to memory through the direct map (a PTE write, a semaphore poll).</summary>
    public long CpuMemoryAccessNs { get; init; } = 1;

    /// <summary>One IOMMU fetch from memory: a DTE, a page-table entry, an RMP entry, a command.</summary>
    public long IommuMemoryAccessNs { get; init; } = 80;

    /// <summary>Executing one command from the command ring, on top of fetching it.</summary>
    public long IommuCommandNs { get; init; } = 150;

    /// <summary>One PSP firmware command from doorbell to RESP.</summary>
    public long PspCommandNs { get; init; } = 50_000;

    /// <summary>SNP_INIT_EX and SNP_SHUTDOWN_EX, which touch the whole RMP and the IOMMU.</summary>
    public long PspInitNs { get; init; } = 2_000_000;

    /// <summary>One RMPUPDATE or PSMASH instruction.</summary>
    public long RmpInstructionNs { get; init; } = 200;

    /// <summary>Fixed part of one DMA transaction (request and completion on the link).</summary>
    public long DmaSetupNs { get; init; } = 100;

    /// <summary>DMA payload bandwidth.</summary>
    public long DmaBytesPerNs { get; init; } = 16;

    /// <summary>Time a DMA transfer of <paramref name="bytes"/> bytes spends on the link.</summary>
    public long DmaTransferNs(int bytes) => DmaSetupNs + (bytes + DmaBytesPerNs - 1) / DmaBytesPerNs;
}
