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
}
