using Driver.Kernel.Iommu.Amd;

namespace Driver.Kernel.Psp;

/// <summary>The AMD IOMMU driver seen through <see cref="IIommuSnp"/>.</summary>
public sealed class AmdIommuSnp(AmdIommuDriver driver) : IIommuSnp
{
    private const ulong PageSize = 0x1000;

    // An event log entry is 16 bytes; the log holds 2^EventLogLengthLg2 of them.
    private const int EventBytes = 16;

    public Errno SnpEnable() => driver.SnpEnable();

    public IReadOnlyList<ulong> SnpPages()
    {
        if (!driver.Initialized)
            return [];
        var pages = new List<ulong>();
        ulong bytes = (ulong)EventBytes << driver.Config.EventLogLengthLg2;
        for (ulong offset = 0; offset < bytes; offset += PageSize)
            pages.Add(driver.EventLogPa + offset);
        pages.Add(driver.CommandQueue.SemaphorePa & ~(PageSize - 1));
        return pages;
    }
}
