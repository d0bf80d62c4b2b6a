namespace Driver.Platform.Iommu;

/// <summary>What became of one DMA request at the IOMMU.</summary>
public enum TranslationStatus
{
    /// <summary>Translated (or passed through) and allowed.</summary>
    Ok,

    /// <summary>Not mapped, or mapped without the permission asked for: IO_PAGE_FAULT (unless suppressed).</summary>
    IoPageFault,

    /// <summary>The DTE has reserved bits set or an unsupported mode: ILLEGAL_DEV_TABLE_ENTRY.</summary>
    IllegalDte,

    /// <summary>The DeviceID lies beyond the device table, or the entry beyond the physical limit: DEV_TAB_HARDWARE_ERROR.</summary>
    DeviceTableError,

    /// <summary>V = 1, TV = 0: the request is aborted without an event.</summary>
    Blocked,

    /// <summary>The RMP check refused the page: RMP_PAGE_FAULT.</summary>
    RmpFault,

    /// <summary>Firmware holds DMA to this range; retry at <see cref="TranslationResult.StallUntilNs"/>.</summary>
    Stalled,

    /// <summary>A page-table pointer (the DTE root or a PDE) lies beyond the physical limit: PAGE_TAB_HARDWARE_ERROR.</summary>
    PageTableError,
}
