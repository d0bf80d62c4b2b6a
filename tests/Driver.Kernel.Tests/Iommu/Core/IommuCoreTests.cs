using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Core;

/// <summary>The core against mocks: page-size splitting, rollback, attach rules, strict against lazy.</summary>
public sealed class IommuCoreTests
{
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    [Fact]
    public void Map_SplitsIntoTheLargestPagesEachStepAllows()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        // 4K up to the 2M boundary, 2M pages up to 1G, one 1G page, 2M pages, then 4K.
        rig.Core.Map(domain, 0x3F_F000, 0x1_003F_F000, 0x8000_2000, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe([
            "map 0x3ff000 0x1003ff000 0x1000 x1",
            "map 0x400000 0x100400000 0x200000 x510",
            "map 0x40000000 0x140000000 0x40000000 x1",
            "map 0x80000000 0x180000000 0x200000 x2",
            "map 0x80400000 0x180400000 0x1000 x1",
        ]);
    }

    [Fact]
    public void Map_KeepsSmallerPagesWhenTheLargerOneWouldNotFit()
    {
        var rig = new CoreRig();
        rig.Core.Map(rig.NewDomain(), 0x3F_F000, 0x1_003F_F000, 0x4060_2000, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe(["map 0x3ff000 0x1003ff000 0x1000 x1", "map 0x400000 0x100400000 0x200000 x515", "map 0x40a00000 0x140a00000 0x1000 x1"]);
    }

    [Fact]
    public void Map_DoesNotUseALargerPageWhenTheAddressesSitAtDifferentOffsets()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        rig.Core.Map(domain, 0x20_0000, 0x1000, 0x40_0000, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe(["map 0x200000 0x1000 0x1000 x1024"]);
    }

    [Fact]
    public void Map_FailingStep_UnmapsWhatThisCallMapped_AndReturnsTheErrno()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        rig.FailMapAt = 0x60_0000;
        rig.Core.Map(domain, 0x1F_F000, 0x1F_F000, 0x80_1000, Rw).ShouldBe(Errno.ENOMEM);
        rig.Calls.ShouldBe([
            "map 0x1ff000 0x1ff000 0x1000 x1",
            "map 0x200000 0x200000 0x200000 x4",
            "unmap 0x1ff000 0x1000 x1",
            "unmap 0x200000 0x200000 x2",
            "sync 0x1ff000-0x5fffff",
        ]);
    }

    [Theory]
    [InlineData(0x20_0000UL, 0x40_0000UL, 0x20_0000UL, "map 0x200000 0x400000 0x200000 x1")]
    [InlineData(0x20_0000UL, 0x40_1000UL, 0x20_0000UL, "map 0x200000 0x401000 0x1000 x512")]
    [InlineData(0x1000UL, 0x2000UL, 0x2000UL, "map 0x1000 0x2000 0x1000 x2")]
    public void Map_OfOnePowerOfTwo_IsOnePageOnlyWhenTheTableHasThatSizeAndBothAddressesAlign(ulong iova, ulong paddr, ulong size, string call)
    {
        var rig = new CoreRig();
        rig.Core.Map(rig.NewDomain(), iova, paddr, size, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe([call]);
    }

    [Fact]
    public void Map_OfOnePageThatFails_ReturnsTheErrno_AndHasNothingToUndo()
    {
        var logs = new FakeLogCollector();
        var rig = new CoreRig(loggerFactory: new LoggerFactory([new FakeLoggerProvider(logs)]));
        rig.FailMapAt = 0x20_0000;
        rig.Core.Map(rig.NewDomain(), 0x20_0000, 0x20_0000, 0x20_0000, Rw).ShouldBe(Errno.ENOMEM);
        rig.Calls.ShouldBe(["map 0x200000 0x200000 0x200000 x1"]);
        logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3003);
    }

    [Fact]
    public void TheDomainsPageSizes_AreReadOnce_WhenTheDomainIsMade()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        domain.PageSizeBitmap.ShouldBe(CoreRig.AllSizes4K2M1G);
        for (ulong i = 0; i < 4; i++)
        {
            rig.Core.Map(domain, i << 21, i << 21, 0x20_0000, Rw).ShouldBe(Errno.Ok);
            rig.Core.Unmap(domain, i << 21, 0x1000).ShouldBe(0x1000UL);
        }
        rig.Ops.VerifyGet(o => o.PageSizeBitmap, Times.Once());
        rig.Core.Identity.PageSizeBitmap.ShouldBe(0UL);
    }

    [Fact]
    public void StrictUnmaps_EachSyncOnlyTheirOwnRange()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain(strict: true);
        rig.Core.Unmap(domain, 0x1000, 0x1000).ShouldBe(0x1000UL);
        rig.Core.Unmap(domain, 0x10_0000, 0x1000).ShouldBe(0x1000UL);
        rig.Calls.ShouldBe(["unmap 0x1000 0x1000 x1", "sync 0x1000-0x1fff", "unmap 0x100000 0x1000 x1", "sync 0x100000-0x100fff"]);
    }

    [Fact]
    public void LazyUnmaps_AfterAFlush_StartFromAnEmptyGather()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false, FlushQueueCapacity = 2 });
        var emptyAtStart = new List<bool>();
        rig.Ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>()))
            .Returns((ulong iova, ulong size, ulong count, IotlbGather gather) =>
            {
                emptyAtStart.Add(gather.IsEmpty);
                gather.AddRange(iova, size * count);
                gather.AddFreed([0x9000 + iova]);
                return size * count;
            });
        var domain = rig.NewDomain();
        for (ulong i = 0; i < 6; i++)
            rig.Core.Unmap(domain, i << 12, 0x1000).ShouldBe(0x1000UL);
        domain.FlushQueue!.Flushes.ShouldBe(3);
        emptyAtStart.ShouldBe([true, true, true, true, true, true]);
    }

    [Fact]
    public void LazyUnmap_OfAHole_QueuesNothing()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        rig.Ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>())).Returns(0UL);
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x1000).ShouldBe(0UL);
        domain.FlushQueue!.Count.ShouldBe(0);
    }

    [Theory]
    [InlineData(0x1001UL, 0x1000UL, 0x1000UL)]
    [InlineData(0x1000UL, 0x1800UL, 0x1000UL)]
    [InlineData(0x1000UL, 0x1000UL, 0x1234UL)]
    public void Map_Misaligned_IsEinvalAndTouchesNothing(ulong iova, ulong paddr, ulong size)
    {
        var rig = new CoreRig();
        rig.Core.Map(rig.NewDomain(), iova, paddr, size, Rw).ShouldBe(Errno.EINVAL);
        rig.Calls.ShouldBeEmpty();
    }

    [Fact]
    public void MapAndUnmap_OfAnIdentityOrBlockedDomain_AreRefused()
    {
        var rig = new CoreRig();
        rig.Core.Map(rig.Core.Identity, 0, 0, 0x1000, Rw).ShouldBe(Errno.EINVAL);
        rig.Core.Map(rig.Core.Blocked, 0, 0, 0x1000, Rw).ShouldBe(Errno.EINVAL);
        rig.Core.Unmap(rig.Core.Identity, 0, 0x1000).ShouldBe(0UL);
        rig.Core.Map(rig.NewDomain(), 0x1000, 0x1000, 0, Rw).ShouldBe(Errno.Ok, "an empty map does nothing, as in Linux");
        rig.Calls.ShouldBeEmpty();
    }

    [Fact]
    public void StrictUnmap_SyncsBeforeItReturns()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain(strict: true);
        rig.Core.Unmap(domain, 0x20_0000, 0x20_1000).ShouldBe(0x20_1000UL);
        rig.Calls.ShouldBe(["unmap 0x200000 0x200000 x1", "unmap 0x400000 0x1000 x1", "sync 0x200000-0x400fff"]);
    }

    [Fact]
    public void LazyUnmap_QueuesUntilTheQueueIsFull_ThenFlushesTheDomainOnce()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false, FlushQueueCapacity = 4 });
        var domain = rig.NewDomain();
        domain.IsStrict.ShouldBeFalse();
        for (ulong i = 0; i < 3; i++)
            rig.Core.Unmap(domain, i * 0x1000, 0x1000).ShouldBe(0x1000UL);
        rig.Calls.ShouldAllBe(c => c.StartsWith("unmap"));
        domain.FlushQueue!.Count.ShouldBe(3);

        rig.Core.Unmap(domain, 0x3000, 0x1000);
        rig.Calls.Skip(4).ShouldBe(["flush all", "sync frames", "sync frames", "sync frames", "sync frames"]);
        domain.FlushQueue.Count.ShouldBe(0);
        domain.FlushQueue.Flushes.ShouldBe(1);
    }

    [Fact]
    public void LazyUnmap_FlushesWhenTheTimerFires()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x1000);
        rig.Now = FlushQueue.DefaultTimeoutNs - 1;
        rig.Core.RunTimers();
        rig.Calls.ShouldNotContain("flush all");
        rig.Now = FlushQueue.DefaultTimeoutNs;
        rig.Core.RunTimers();
        rig.Calls.ShouldContain("flush all");
        domain.FlushQueue!.Count.ShouldBe(0);
    }

    [Fact]
    public void LazyDomain_MappingQueuedIova_FlushesFirst()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x1000);
        rig.Calls.Clear();
        rig.Core.Map(domain, 0x1000, 0x5000, 0x1000, Rw).ShouldBe(Errno.Ok);
        rig.Calls.ShouldBe(["flush all", "sync frames", "map 0x1000 0x5000 0x1000 x1"]);
    }

    [Fact]
    public void ADomainChoosesItsOwnInvalidation()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = true });
        rig.NewDomain(strict: false).IsStrict.ShouldBeFalse();
        rig.NewDomain().IsStrict.ShouldBeTrue();
    }

    [Fact]
    public void Probe_GivesEachDeviceAGroupAndADefaultDomain()
    {
        var rig = new CoreRig();
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        var group = rig.Core.GroupOf(0x10).ShouldNotBeNull();
        group.DefaultDomain.Type.ShouldBe(IommuDomainType.Paging);
        group.Domain.ShouldBe(group.DefaultDomain);
        group.DefaultDomain.AttachedDevices.ShouldBe(1);
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.Core.Groups.Count.ShouldBe(1);
        rig.Core.ProbeDevice(0x100).ShouldBe(Errno.ENODEV);
        rig.Core.GroupOf(0x100).ShouldBeNull();
    }

    [Fact]
    public void Probe_WithPassthrough_UsesTheIdentityDomain()
    {
        var rig = new CoreRig(new IommuCoreConfig { Passthrough = true });
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.Core.GroupOf(0x10)!.DefaultDomain.ShouldBe(rig.Core.Identity);
        rig.Driver.Verify(d => d.AttachDevice(0x10, IommuDomainType.Identity, null), Times.Once);
        rig.Core.DmaMap(0x10, 0x1234_5678, 0x100, Rw, out ulong dma).ShouldBe(Errno.Ok);
        dma.ShouldBe(0x1234_5678UL);
    }

    [Fact]
    public void Attach_FollowsLinuxsRules()
    {
        var rig = new CoreRig();
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        var a = rig.NewDomain();
        var b = rig.NewDomain();
        rig.Core.AttachDevice(a, 0x99).ShouldBe(Errno.ENODEV);
        rig.Core.AttachDevice(a, 0x10).ShouldBe(Errno.Ok);
        rig.Core.AttachDevice(a, 0x10).ShouldBe(Errno.EBUSY, "Linux: only a group in its default or the blocked domain may attach");
        rig.Core.AttachDevice(b, 0x10).ShouldBe(Errno.EBUSY);
        rig.Core.FreeDomain(a).ShouldBe(Errno.EBUSY);
        rig.Core.DetachDevice(b, 0x10).ShouldBe(Errno.EINVAL);

        rig.Core.ReplaceDevice(b, 0x10).ShouldBe(Errno.Ok);
        rig.Core.GroupOf(0x10)!.Domain.ShouldBe(b);
        a.AttachedDevices.ShouldBe(0);
        rig.Core.FreeDomain(a).ShouldBe(Errno.Ok);
        rig.Core.FreeDomain(a).ShouldBe(Errno.EINVAL);
        rig.Core.AttachDevice(a, 0x10).ShouldBe(Errno.EBUSY);

        rig.Core.DetachDevice(b, 0x10).ShouldBe(Errno.Ok);
        var group = rig.Core.GroupOf(0x10)!;
        group.Domain.ShouldBe(group.DefaultDomain);
        rig.Core.ReplaceDevice(rig.Core.Blocked, 0x10).ShouldBe(Errno.Ok);
        rig.Core.Blocked.AttachedDevices.ShouldBe(1);
        rig.Core.AttachDevice(b, 0x10).ShouldBe(Errno.Ok, "a blocked group may attach");
        group.Domain.ShouldBe(b);
        rig.Core.Blocked.AttachedDevices.ShouldBe(0);
    }

    [Fact]
    public void AFailedAttach_KeepsTheOldDomain()
    {
        var rig = new CoreRig();
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        var group = rig.Core.GroupOf(0x10)!;
        var a = rig.NewDomain();
        rig.AttachResult = Errno.EIO;
        rig.Core.AttachDevice(a, 0x10).ShouldBe(Errno.EIO);
        group.Domain.ShouldBe(group.DefaultDomain);
        a.AttachedDevices.ShouldBe(0);
        group.DefaultDomain.AttachedDevices.ShouldBe(1);
    }

    [Fact]
    public void DmaMap_TakesIovaTopDown_AndStrictUnmapHandsItBack()
    {
        var rig = new CoreRig();
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.Core.DmaMap(0x10, 0x5000_0123, 0x2000, Rw, out ulong first).ShouldBe(Errno.Ok);
        (first & 0xFFF).ShouldBe(0x123UL, "the offset in the page is kept");
        (first & ~0xFFFUL).ShouldBe((1UL << 48) - 0x4000, "0x123 + 0x2000 bytes span three pages, rounded to four");
        rig.Core.DmaMap(0x10, 0x6000_0000, 0x1000, Rw, out ulong second).ShouldBe(Errno.Ok);
        second.ShouldBe((1UL << 48) - 0x5000);

        rig.Core.DmaUnmap(0x10, first, 0x2000).ShouldBe(Errno.Ok);
        rig.Core.DmaMap(0x10, 0x7000_0000, 0x4000, Rw, out ulong again).ShouldBe(Errno.Ok);
        again.ShouldBe(first & ~0xFFFUL, "a strict unmap freed the IOVA at once");
        rig.Core.DmaUnmap(0x10, 0x1234_0000, 0x1000).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void LazyDmaUnmap_HandsTheIovaBackOnlyAfterTheFlush()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.Core.DmaMap(0x10, 0x5000_0000, 0x1000, Rw, out ulong first).ShouldBe(Errno.Ok);
        rig.Core.DmaUnmap(0x10, first, 0x1000).ShouldBe(Errno.Ok);
        rig.Core.DmaMap(0x10, 0x5000_0000, 0x1000, Rw, out ulong second).ShouldBe(Errno.Ok);
        second.ShouldNotBe(first, "the IOVA waits in the flush queue");
        rig.Core.FlushQueue(rig.Core.GroupOf(0x10)!.Domain).ShouldBe(Errno.Ok);
        rig.Core.DmaMap(0x10, 0x5000_0000, 0x1000, Rw, out ulong third).ShouldBe(Errno.Ok);
        third.ShouldBe(first);
    }

    [Fact]
    public void AFlushOfTheQueue_IsLoggedWithItsEntries()
    {
        var rig = new CoreRig();
        var logs = new FakeLogCollector();
        using var factory = new LoggerFactory([new FakeLoggerProvider(logs)], new LoggerFilterOptions { MinLevel = LogLevel.Debug });
        var core = new IommuCore(rig.Driver.Object, rig.Clock.Object, new IommuCoreConfig { Strict = false, FlushQueueCapacity = 2 }, factory);
        core.AllocPagingDomain(DomainAllocFlags.None, out var domain).ShouldBe(Errno.Ok);
        core.Unmap(domain!, 0x1000, 0x1000);
        core.Unmap(domain!, 0x2000, 0x1000);
        var record = logs.GetSnapshot().Single(r => r.Id.Id == 3004);
        record.Level.ShouldBe(LogLevel.Debug);
        record.GetStructuredStateValue("Entries").ShouldBe("2");
    }
}
