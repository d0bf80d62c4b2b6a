namespace Driver.Platform.Iommu;

/// <summary>Which lines an invalidation drops; a struct, so the cache's scan is specialised per filter.</summary>
internal interface ICacheFilter<TLine>
    where TLine : struct
{
    bool Drops(in TLine line);
}
