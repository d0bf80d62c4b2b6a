using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>What a pinned page costs the host: iommufd's bookkeeping plus the domain's PTEs, per 4K page.</summary>
public class HostCostTests(ITestOutputHelper output)
{
    private const ulong Pg = 4096;

    [Fact]
    public void Host_bytes_per_pinned_page_are_at_most_64()
    {
        const ulong size = 64UL << 20;
        var rig = new IommufdRig(MockDomainOptions.Plain, userFrames: (size / Pg) + 64);
        rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        rig.MockDomain(ioas);
        ulong buffer = rig.Buffer(size);
        // Warm the path once so that nothing the JIT or first use allocates is counted.
        ulong warm = MockDomainOptions.DefaultApertureStart;
        rig.Utils.IoasMap(ioas, buffer, Pg, ref warm).ShouldBe(Errno.Ok);
        rig.Utils.IoasUnmap(ioas, warm, Pg).ShouldBe(Errno.Ok);

        ulong iova = 1UL << 30;
        long before = GC.GetAllocatedBytesForCurrentThread();
        rig.Utils.IoasMap(ioas, buffer, size, ref iova).ShouldBe(Errno.Ok);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long pages = rig.Pages.TotalPins;
        pages.ShouldBe((long)(size / Pg));
        double perPage = (double)allocated / pages;
        output.WriteLine($"allocated {allocated} bytes for {pages} pinned pages: {perPage:F1} B/page (iopt_pages keeps {IoptPages.BytesPerPage})");
        perPage.ShouldBeLessThanOrEqualTo(64);
        rig.CheckNoLeak();
    }
}
