namespace Driver.Kernel.Iommu;

/// <summary>
/// A paging domain whose table can change page sizes in place (iommupt's Cut and Merge, which
/// Linux lists as future work): a caller that must take one 4K page out of a large mapping cuts
/// first, so the rest of it keeps translating, and merges back once large pages are allowed again.
/// </summary>
public interface IIommuDomainResize
{
    /// <summary>Splits the large entry <paramref name="iova"/> falls strictly inside, hitless and flushed; Ok when none does. ENOMEM leaves the table as it was.</summary>
    Errno Cut(ulong iova);

    /// <summary>Replaces runs of small entries in the range by the largest ones they form, hitless and flushed.</summary>
    Errno Merge(ulong iova, ulong length);
}
