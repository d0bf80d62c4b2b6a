namespace Driver.Platform.Iommu;

/// <summary>A completed invalidation, kept so the cache monitor can tell "not yet flushed" from "flushed and still stale".</summary>
internal readonly record struct InvalidationRecord(InvalidationKind Kind, ushort Id, InvalidationRange Range, long Epoch)
{
    public bool Covers(ushort domainId, ushort deviceId, ulong iova) => Kind switch
    {
        InvalidationKind.All => true,
        InvalidationKind.DeviceTableEntry => Id == deviceId,
        _ => Id == domainId && Range.Contains(iova),
    };
}
