namespace Driver.Platform.Iommu;

/// <summary>What a cached PDE tells a walk: where to continue and the permissions ANDed so far.</summary>
internal readonly record struct PdeCacheHit(ulong NextTable, byte NextLevel, bool Read, bool Write, long Epoch);
