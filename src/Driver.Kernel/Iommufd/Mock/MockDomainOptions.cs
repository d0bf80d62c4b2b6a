namespace Driver.Kernel.Iommufd.Mock;

/// <summary>
/// How the mock IOMMU's paging domains look (the variants of Linux's selftest mock): the page
/// sizes, the aperture and whether they track dirty pages.
/// </summary>
public sealed record MockDomainOptions
{
    /// <summary>Linux's MOCK_APERTURE_START: the mock translates nothing below 16 MiB.</summary>
    public const ulong DefaultApertureStart = 1UL << 24;

    /// <summary>Linux's MOCK_APERTURE_LAST.</summary>
    public const ulong DefaultApertureEnd = (1UL << 31) - 1;

    /// <summary>4 KiB pages only: every IOVA page is its own PTE.</summary>
    public static MockDomainOptions Plain { get; } = new();

    /// <summary>4 KiB, 2 MiB and 1 GiB pages, as an IOMMU with huge IOVA pages.</summary>
    public static MockDomainOptions HugePages { get; } = new() { PageSizes = (1UL << 12) | (1UL << 21) | (1UL << 30) };

    /// <summary>Plain pages and hardware dirty tracking.</summary>
    public static MockDomainOptions DirtyTracking { get; } = new() { Dirty = true };

    /// <summary>A small aperture (1 MiB from 16 MiB): the limited domain of the suite.</summary>
    public static MockDomainOptions Limited { get; } = new() { ApertureEnd = DefaultApertureStart + (1UL << 20) - 1 };

    public ulong PageSizes { get; init; } = 1UL << 12;

    public bool Dirty { get; init; }

    public ulong ApertureStart { get; init; } = DefaultApertureStart;

    public ulong ApertureEnd { get; init; } = DefaultApertureEnd;
}
