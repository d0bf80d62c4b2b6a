using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Core;

/// <summary>The core's refusals, failure paths and timers against mocks; the flush queue, the IOVA allocator and the split on their own.</summary>
public sealed class CoreEdgeTests
{
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    private static (CoreRig Rig, FakeLogCollector Logs) LoggedRig(IommuCoreConfig? config = null)
    {
        var logs = new FakeLogCollector();
        return (new CoreRig(config, loggerFactory: new LoggerFactory([new FakeLoggerProvider(logs)])), logs);
    }

    [Fact]
    public void NullArguments_AreBugs()
    {
        var rig = new CoreRig();
        Should.Throw<ArgumentNullException>(() => new IommuCore(null!, rig.Clock.Object));
        Should.Throw<ArgumentNullException>(() => new IommuCore(rig.Driver.Object, null!));
        Should.Throw<ArgumentNullException>(() => rig.Core.FreeDomain(null!));
        Should.Throw<ArgumentNullException>(() => rig.Core.AttachDevice(null!, 1));
        Should.Throw<ArgumentNullException>(() => rig.Core.DetachDevice(null!, 1));
        Should.Throw<ArgumentNullException>(() => rig.Core.ReplaceDevice(null!, 1));
        Should.Throw<ArgumentNullException>(() => rig.Core.Map(null!, 0, 0, 0x1000, Rw));
        Should.Throw<ArgumentNullException>(() => rig.Core.Unmap(null!, 0, 0x1000));
        Should.Throw<ArgumentNullException>(() => rig.Core.FlushQueue(null!));
        Should.Throw<ArgumentNullException>(() => new FlushQueue(null!));
        Should.Throw<ArgumentOutOfRangeException>(() => new FlushQueue(rig.Clock.Object, capacity: 0));
        Should.Throw<ArgumentOutOfRangeException>(() => new FlushQueue(rig.Clock.Object, timeoutNs: 0));
    }

    [Fact]
    public void Map_ARangeThatWrapsTheAddressSpace_IsEinval()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        rig.Core.Map(domain, 0xFFFF_FFFF_FFFF_F000, 0x1000, 0x2000, Rw).ShouldBe(Errno.EINVAL);
        rig.Core.Map(domain, 0x1000, 0xFFFF_FFFF_FFFF_F000, 0x2000, Rw).ShouldBe(Errno.EINVAL);
        rig.Core.Map(domain, 0xFFFF_FFFF_FFFF_F000, 0x1000, 0x1000, Rw).ShouldBe(Errno.Ok, "the last page itself does not wrap");
        rig.Calls.ShouldBe(["map 0xfffffffffffff000 0x1000 0x1000 x1"]);
    }

    [Fact]
    public void AFreedDomain_NeitherMapsNorUnmaps()
    {
        var rig = new CoreRig();
        var domain = rig.NewDomain();
        rig.Core.FreeDomain(domain).ShouldBe(Errno.Ok);
        rig.Core.Map(domain, 0x1000, 0x1000, 0x1000, Rw).ShouldBe(Errno.EINVAL);
        rig.Core.Unmap(domain, 0x1000, 0x1000).ShouldBe(0UL);
        rig.Core.AttachDevice(domain, 0x10).ShouldBe(Errno.ENODEV);
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.Core.ReplaceDevice(domain, 0x10).ShouldBe(Errno.EINVAL);
        rig.Calls.ShouldBeEmpty();
    }

    [Fact]
    public void Unmap_OfNothingOrMisaligned_UnmapsNothing_AndSaysWhy()
    {
        var (rig, logs) = LoggedRig();
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0).ShouldBe(0UL);
        rig.Core.Unmap(domain, 0x1800, 0x1000).ShouldBe(0UL);
        rig.Core.Unmap(domain, 0x1000, 0x800).ShouldBe(0UL);
        rig.Calls.ShouldBeEmpty();
        logs.GetSnapshot().Count(r => r.Id.Id == 3002).ShouldBe(2);
    }

    [Fact]
    public void StrictUnmap_StopsAtTheFirstHole()
    {
        var rig = new CoreRig();
        rig.Ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>()))
            .Returns((ulong iova, ulong size, ulong count, IotlbGather gather) =>
            {
                rig.Calls.Add($"unmap 0x{iova:x}");
                return 0UL;
            });
        var domain = rig.NewDomain(strict: true);
        rig.Core.Unmap(domain, 0x1000, 0x3000).ShouldBe(0UL);
        rig.Calls.ShouldBe(["unmap 0x1000", "sync frames"]);
    }

    [Fact]
    public void ALazyRange_LargerThanAPage_IsQueuedWhole()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x3000).ShouldBe(0x3000UL);
        domain.FlushQueue!.Overlaps(0x3000, 0x1000).ShouldBeTrue("the last page of the range is queued too");
        rig.Calls.Clear();
        rig.Core.Map(domain, 0x3000, 0x9000, 0x1000, Rw).ShouldBe(Errno.Ok);
        rig.Calls[0].ShouldBe("flush all");
    }

    [Fact]
    public void FlushQueue_Overlaps_ExactlyTheQueuedRange()
    {
        var clock = new Mock<IClock>();
        var ops = new Mock<IIommuDomainOps>();
        var queue = new FlushQueue(clock.Object, capacity: 8);
        queue.Overlaps(0, ulong.MaxValue).ShouldBeFalse("empty");
        queue.Add(ops.Object, 0x2000, 0x2000, new IotlbGather(), null);
        queue.Overlaps(0x1000, 0x1000).ShouldBeFalse();
        queue.Overlaps(0x1000, 0x1001).ShouldBeTrue();
        queue.Overlaps(0x3FFF, 1).ShouldBeTrue();
        queue.Overlaps(0x4000, 0x1000).ShouldBeFalse();
        queue.Overlaps(0x2800, 1).ShouldBeTrue();
    }

    [Fact]
    public void FlushQueue_HandsBackTheGathersItFlushed()
    {
        var clock = new Mock<IClock>();
        var ops = new Mock<IIommuDomainOps>();
        ops.Setup(o => o.FlushIotlbAll()).Returns(Errno.Ok);
        var queue = new FlushQueue(clock.Object, capacity: 8);
        var first = queue.RentGather();
        first.AddRange(0x1000, 0x1000);
        queue.Add(ops.Object, 0x1000, 0x1000, first, null);
        queue.Flush(ops.Object).ShouldBe(Errno.Ok);
        var again = queue.RentGather();
        again.ShouldBeSameAs(first);
        again.IsEmpty.ShouldBeTrue();
        queue.RentGather().ShouldNotBeSameAs(first, "only one was handed back");
    }

    [Fact]
    public void AFailedQueueFlush_KeepsTheEntries_CountsAndLogsIt_AndTheDomainStays()
    {
        var (rig, logs) = LoggedRig(new IommuCoreConfig { Strict = false });
        rig.Ops.Setup(o => o.FlushIotlbAll()).Returns(Errno.EIO);
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x1000);
        rig.Core.FreeDomain(domain).ShouldBe(Errno.EIO);
        domain.FlushQueue!.Count.ShouldBe(1);
        domain.FlushQueue.FailedFlushes.ShouldBe(1);
        logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3005);
        rig.Core.Map(domain, 0x10_0000, 0x10_0000, 0x1000, Rw).ShouldBe(Errno.Ok, "not freed");
        rig.Core.Map(domain, 0x1000, 0x1000, 0x1000, Rw).ShouldBe(Errno.EIO, "queued IOVA cannot be reused before a flush");
    }

    [Fact]
    public void EveryEntryPoint_RunsTheTimersFirst()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        var lazy = rig.NewDomain();
        var other = rig.NewDomain(strict: true);
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        var entries = new Action[]
        {
            () => rig.Core.ProbeDevice(0x11),
            () => rig.Core.Map(other, 0x1000, 0x1000, 0x1000, Rw),
            () => rig.Core.Unmap(other, 0x1000, 0x1000),
            () => rig.Core.ReplaceDevice(other, 0x10),
        };
        foreach (var entry in entries)
        {
            rig.Core.Unmap(lazy, 0x8000, 0x1000);
            rig.Now += FlushQueue.DefaultTimeoutNs;
            entry();
            lazy.FlushQueue!.Count.ShouldBe(0);
        }
        lazy.FlushQueue!.Flushes.ShouldBe(entries.Length);
    }

    [Fact]
    public void Probe_Failures_AreLogged_AndLeaveNoGroup()
    {
        var (rig, logs) = LoggedRig();
        rig.Core.ProbeDevice(0x100).ShouldBe(Errno.ENODEV);
        logs.GetSnapshot().Single(r => r.Id.Id == 3001).Level.ShouldBe(LogLevel.Warning);

        IIommuDomainOps? none = null;
        rig.Driver.Setup(d => d.AllocPagingDomain(It.IsAny<DomainAllocFlags>(), out none)).Returns(Errno.ENOMEM);
        rig.Core.ProbeDevice(0x20).ShouldBe(Errno.ENOMEM);
        rig.Core.GroupOf(0x20).ShouldBeNull();
        logs.GetSnapshot().Count(r => r.Id.Id == 3001).ShouldBe(2);
        logs.GetSnapshot().ShouldNotContain(r => r.Id.Id == 3000);
    }

    [Fact]
    public void Probe_WhoseAttachFails_FreesTheNewDomain()
    {
        var (rig, logs) = LoggedRig();
        rig.AttachResult = Errno.EIO;
        rig.Core.ProbeDevice(0x20).ShouldBe(Errno.EIO);
        rig.Ops.Verify(o => o.Free(), Times.Once());
        rig.Core.GroupOf(0x20).ShouldBeNull();
        logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3001);

        rig.AttachResult = Errno.Ok;
        rig.Core.ProbeDevice(0x20).ShouldBe(Errno.Ok);
        logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3000);
    }

    [Fact]
    public void Probe_WithPassthrough_WhoseAttachFails_FreesNothing()
    {
        var rig = new CoreRig(new IommuCoreConfig { Passthrough = true }) { AttachResult = Errno.EIO };
        rig.Core.ProbeDevice(0x20).ShouldBe(Errno.EIO);
        rig.Ops.Verify(o => o.Free(), Times.Never());
        rig.Core.Identity.Freed.ShouldBeFalse();
    }

    [Fact]
    public void DmaMap_WhoseMapFails_HandsTheIovaBack()
    {
        var rig = new CoreRig();
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.FailMapAt = (1UL << 48) - 0x1000;
        rig.Core.DmaMap(0x10, 0x5000, 0x1000, Rw, out ulong dma).ShouldBe(Errno.ENOMEM, "the first IOVA is the top page");
        dma.ShouldBe(0UL);
        rig.Core.GroupOf(0x10)!.DefaultDomain.Iovas!.Count.ShouldBe(0);
    }

    [Fact]
    public void IovaAllocator_RefusesWhatCannotFit()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new IovaAllocator(0x2000));
        var iovas = new IovaAllocator(0x4000);
        iovas.Alloc(0, out _).ShouldBe(Errno.EINVAL);
        iovas.Alloc(0x2001, out _).ShouldBe(Errno.EINVAL, "more than half the space");
        iovas.Alloc(0x2000, out ulong a).ShouldBe(Errno.Ok);
        a.ShouldBe(0x2000UL);
        iovas.SizeOf(a).ShouldBe(0x2000UL);
        iovas.SizeOf(a + 0x1000).ShouldBe(0UL);
        iovas.Alloc(0x1000, out ulong b).ShouldBe(Errno.Ok);
        b.ShouldBe(0x1000UL);
        iovas.Alloc(0x1000, out _).ShouldBe(Errno.ENOSPC, "page 0 is never handed out");
        Should.Throw<InvalidOperationException>(() => iovas.Free(0x1800));
        iovas.Free(a);
        iovas.Alloc(0x1000, out ulong c).ShouldBe(Errno.Ok);
        c.ShouldBe(0x3000UL);
    }

    [Fact]
    public void IovaAllocator_FitsRightBelowTheNextRange()
    {
        var iovas = new IovaAllocator(0x10_0000);
        iovas.Alloc(0x1000, out ulong top).ShouldBe(Errno.Ok);
        top.ShouldBe(0xF_F000UL);
        iovas.Alloc(0x2000, out ulong next).ShouldBe(Errno.Ok);
        next.ShouldBe(0xF_D000UL - 0x1000, "aligned to its own size below the first");
        iovas.Alloc(0x1000, out ulong hole).ShouldBe(Errno.Ok);
        hole.ShouldBe(0xF_E000UL, "the hole between the two");
    }

    [Fact]
    public void IovaAllocator_IsFullWhenTheLowestRangeStartsBelowTheSize()
    {
        var iovas = new IovaAllocator(0x8000);
        iovas.Alloc(0x4000, out ulong a).ShouldBe(Errno.Ok);
        iovas.Alloc(0x2000, out ulong b).ShouldBe(Errno.Ok);
        iovas.Alloc(0x1000, out ulong c).ShouldBe(Errno.Ok);
        (a, b, c).ShouldBe((0x4000UL, 0x2000UL, 0x1000UL));
        iovas.Alloc(0x2000, out ulong none).ShouldBe(Errno.ENOSPC, "only page 0 is left below 0x1000");
        none.ShouldBe(0UL);
        iovas.Count.ShouldBe(3);
    }

    [Theory]
    [InlineData(0x1F_F000UL, 0x3F_F000UL, 0x20_1000UL, 0x1000UL, 1UL)]
    [InlineData(0x1F_F000UL, 0x1F_F000UL, 0x20_1000UL, 0x1000UL, 1UL)]
    [InlineData(0x1F_F000UL, 0x1F_F000UL, 0x20_0FFFUL + 1 - 0x1000, 0x1000UL, 0x200UL)]
    public void PageSizeSplit_StopsAtTheBoundaryOnlyWhenALargerPageFollows(ulong iova, ulong paddr, ulong size, ulong page, ulong count)
    {
        PageSizeSplit.Pick((1UL << 12) | (1UL << 21), iova, paddr, size).ShouldBe((page, count));
    }

    [Fact]
    public void PageSizeSplit_OfNothing_IsABug()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => PageSizeSplit.Pick(0, 0, 0, 0x1000));
        Should.Throw<ArgumentOutOfRangeException>(() => PageSizeSplit.Pick(1UL << 12, 0, 0, 0));
        Should.Throw<ArgumentOutOfRangeException>(() => PageSizeSplit.Pick(1UL << 21, 0x1000, 0, 0x20_0000));
    }
}
