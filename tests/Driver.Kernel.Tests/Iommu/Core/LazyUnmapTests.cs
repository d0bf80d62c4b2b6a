using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Core;

/// <summary>
/// A lazy (iommu.strict=0) unmap as dma-iommu does it: the range is queued whatever the driver
/// put in the gather, a range nothing mapped releases its IOVA at once, and the gathers are reused.
/// </summary>
public sealed class LazyUnmapTests
{
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    /// <summary>Domain ops whose unmap finds nothing mapped, and which allocate nothing.</summary>
    private sealed class EmptyTable : IIommuDomainOps
    {
        public ulong PageSizeBitmap => 1UL << 12;

        public int VaBits => 48;

        public Errno MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped)
        {
            mapped = pgsize * pgcount;
            return Errno.Ok;
        }

        public ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount, IotlbGather gather) => 0;

        public ulong IovaToPhys(ulong iova) => 0;

        public void IotlbSync(IotlbGather gather)
        {
        }

        public Errno FlushIotlbAll() => Errno.Ok;

        public Errno SetDirtyTracking(bool enabled) => Errno.EOPNOTSUPP;

        public Errno ReadAndClearDirty(ulong iova, ulong size, DirtyFlags flags, IovaBitmap bitmap) => Errno.EOPNOTSUPP;

        public Errno Free() => Errno.Ok;
    }

    [Fact]
    public void WhatTheDriverUnmapped_IsQueued_EvenWithNothingInTheGather()
    {
        // queue_iova runs for every lazy unmap: the IOTLB may hold the range whatever the driver gathered.
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        rig.Ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>()))
            .Returns((ulong iova, ulong size, ulong count, IotlbGather gather) => size * count);
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x2000).ShouldBe(0x2000UL);
        domain.FlushQueue!.Count.ShouldBe(1);
        domain.FlushQueue.Overlaps(0x2000, 0x1000).ShouldBeTrue();
        rig.Calls.ShouldBeEmpty();
        rig.Now += FlushQueue.DefaultTimeoutNs;
        rig.Core.RunTimers();
        rig.Calls.ShouldBe(["flush all", "sync frames"]);
    }

    [Fact]
    public void ADmaUnmapOfNothingMapped_HandsTheIovaBackAtOnce()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        rig.Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        rig.Core.DmaMap(0x10, 0x5000, 0x1000, Rw, out ulong first).ShouldBe(Errno.Ok);
        rig.Ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>())).Returns(0UL);
        rig.Core.DmaUnmap(0x10, first, 0x1000).ShouldBe(Errno.Ok);
        rig.Core.GroupOf(0x10)!.Domain.FlushQueue!.Count.ShouldBe(0, "nothing to flush");
        rig.Core.DmaMap(0x10, 0x6000, 0x1000, Rw, out ulong again).ShouldBe(Errno.Ok);
        again.ShouldBe(first, "the IOVA was free again");
    }

    [Fact]
    public void ALazyUnmapOfNothing_AllocatesNothing()
    {
        var rig = new CoreRig(new IommuCoreConfig { Strict = false });
        IIommuDomainOps? table = new EmptyTable();
        rig.Driver.Setup(d => d.AllocPagingDomain(It.IsAny<DomainAllocFlags>(), out table)).Returns(Errno.Ok);
        var domain = rig.NewDomain();
        rig.Core.Unmap(domain, 0x1000, 0x1000).ShouldBe(0UL);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
            rig.Core.Unmap(domain, 0x1000, 0x1000);
        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBe(0L, "the gather goes back to the queue");
        domain.FlushQueue!.Count.ShouldBe(0);
    }
}
