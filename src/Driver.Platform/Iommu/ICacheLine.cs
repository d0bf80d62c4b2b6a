namespace Driver.Platform.Iommu;

/// <summary>
/// A line of a <see cref="SetAssociativeCache{TTag, TLine}"/>: it carries its
/// tag, and its type says how a tag picks a set and how two tags compare.
/// </summary>
internal interface ICacheLine<TTag>
    where TTag : struct
{
    TTag Tag { get; }

    /// <summary>Spreads tags over sets; the cache masks it to the set count.</summary>
    static abstract ulong SetHash(in TTag tag);

    static abstract bool SameTag(in TTag a, in TTag b);
}
