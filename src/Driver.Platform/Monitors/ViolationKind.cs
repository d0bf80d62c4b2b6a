namespace Driver.Platform.Monitors;

/// <summary>The invariants the platform watches.</summary>
public enum ViolationKind
{
    /// <summary>DMA reached a guest-private page through the non-secure path.</summary>
    PrivatePageReached,

    /// <summary>A page walk read a table frame the kernel had already freed.</summary>
    WalkThroughFreedTable,

    /// <summary>A cached translation disagreed with memory after an invalidation covering it completed.</summary>
    StaleTranslationAfterInvalidation,

    /// <summary>
    /// A cached translation older than a change of a page-table entry it was built from served a
    /// DMA after a COMPLETION_WAIT posted after that change had completed: the driver skipped
    /// the invalidation it owed before the wait.
    /// </summary>
    StaleTranslationAfterCompletionWait,

    /// <summary>A trusted DMA (a TDI bound to a guest) reached a page not assigned to that guest's ASID.</summary>
    TrustedDmaReachedForeignPage,

    /// <summary>
    /// A DMA reached a memory frame the kernel had freed (and not handed out again): an IOMMU mapping
    /// outlived the page it maps, which pins or an invalidation notifier exist to prevent.
    /// </summary>
    DmaReachedFreedFrame,
}
