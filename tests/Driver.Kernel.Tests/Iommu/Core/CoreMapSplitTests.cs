using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Core;

/// <summary>
/// iommu_map's cut of a range into map_pages calls at its edges: one call of one page only for
/// a size the table has at an address aligned to it, ranges that end at the top of the space,
/// and what a misaligned map prints.
/// </summary>
public sealed class CoreMapSplitTests
{
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    [Theory]
    // 8K is no page size of the table: two 4K pages.
    [InlineData(0x2000UL, 0x4000UL, 0x2000UL, "map 0x2000 0x4000 0x1000 x2")]
    // 2M of 4K-aligned addresses: 4K pages up to where a 2M page could start, and none can here.
    [InlineData(0x1000UL, 0x1000UL, 0x20_0000UL, "map 0x1000 0x1000 0x1000 x512")]
    [InlineData(0x20_1000UL, 0x40_1000UL, 0x20_0000UL, "map 0x201000 0x401000 0x1000 x512")]
    // One 2M page, aligned.
    [InlineData(0x20_0000UL, 0x40_0000UL, 0x20_0000UL, "map 0x200000 0x400000 0x200000 x1")]
    public void ARangeOfOnePowerOfTwo_IsOnePageOnlyWhereTheTableHasThatPage(ulong iova, ulong paddr, ulong size, string call)
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        rig.Core.Map(domain, iova, paddr, size, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe([call]);
    }

    [Fact]
    public void APhysicalRangeThatEndsAtTheTop_DoesNotWrap()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        rig.Core.Map(domain, 0x1000, 0xFFFF_FFFF_FFFF_F000, 0x1000, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe(["map 0x1000 0xfffffffffffff000 0x1000 x1"]);
    }

    [Fact]
    public void AMisalignedMap_SaysWhatWasMisaligned()
    {
        var logs = new FakeLogCollector();
        var rig = new CoreRig(loggerFactory: new LoggerFactory([new FakeLoggerProvider(logs)]));
        var domain = rig.NewDomain();
        rig.Core.Map(domain, 0x1800, 0x4000, 0x1000, Rw).ShouldBe(Errno.EINVAL);
        var record = logs.GetSnapshot().Single(r => r.Id.Id == 3002);
        record.Level.ShouldBe(LogLevel.Error);
        record.Message.ShouldBe("iommu: unaligned: iova 0x1800 pa 0x4000 size 0x1000 min_pagesz 0x1000");
        rig.Calls.ShouldBeEmpty();
    }
}
