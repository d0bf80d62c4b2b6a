namespace Driver.Platform.Dma;

/// <summary>How one DMA transaction ended.</summary>
public enum DmaOutcome
{
    Completed,

    /// <summary>The IOMMU faulted it (IO_PAGE_FAULT, ILLEGAL_DEV_TABLE_ENTRY, DEV_TAB_HARDWARE_ERROR).</summary>
    Faulted,

    /// <summary>The RMP check refused it (RMP_PAGE_FAULT).</summary>
    RmpRefused,

    /// <summary>The DTE blocks the device without an event (V = 1, TV = 0).</summary>
    Blocked,

    /// <summary>The address lies outside physical memory: a master abort, no data moved.</summary>
    Aborted,
}
