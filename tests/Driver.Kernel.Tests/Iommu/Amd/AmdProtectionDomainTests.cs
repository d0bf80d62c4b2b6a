using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Platform.Iommu;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>Protection domains: end to end on the simulated IOMMU, and the exact commands against a mocked queue.</summary>
public sealed class AmdProtectionDomainTests
{
    private const ushort Device = 0x10;
    private const IommuProt ReadWrite = IommuProt.Read | IommuProt.Write;

    [Theory]
    [InlineData(12)]
    [InlineData(16)]
    [InlineData(21)]
    [InlineData(30)]
    public void AnAttachedDevice_TranslatesAsTheTableSays_UntilUnmapped(int lg2)
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(Device).ShouldBe(Errno.Ok);
        ulong size = 1UL << lg2;
        ulong iova = 4 * size;
        ulong oa = 0x40_0000_0000 + (2 * size);
        domain.Table.MapPages(iova, oa, size, 1, ReadWrite, out _).ShouldBe(Errno.Ok);

        foreach (ulong offset in new ulong[] { 0, 8, size / 2, size - 1 })
        {
            var result = rig.Machine.Iommu.Translate(Device, iova + offset, write: true);
            result.Status.ShouldBe(TranslationStatus.Ok);
            result.Spa.ShouldBe(domain.Table.IovaToPhys(iova + offset));
        }

        var gather = new IotlbGather();
        domain.Table.UnmapPages(iova, size, gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(size);
        domain.Table.IotlbSync(gather);
        rig.Machine.Iommu.Translate(Device, iova, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);
        rig.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Attach_WritesTheDte_AndDetachBlocksTheDeviceAgain()
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(Device).ShouldBe(Errno.Ok);
        var dte = rig.Driver.DeviceTable.Read(Device);
        dte.Valid.ShouldBeTrue();
        dte.TranslationValid.ShouldBeTrue();
        dte.Mode.ShouldBe(PagingMode.Level3);
        dte.HostPageTableRoot.ShouldBe(domain.Table.TopPa);
        dte.DomainId.ShouldBe(domain.DomainId);
        domain.Devices.ShouldBe([Device]);

        domain.Table.MapPages(0x1000, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(Device, 0x1000, write: false).Status.ShouldBe(TranslationStatus.Ok);
        domain.Detach(Device).ShouldBe(Errno.Ok);
        rig.Driver.DeviceTable.Read(Device).ShouldBe(AmdIommuDriver.BlockedEntry);
        rig.Machine.Iommu.Translate(Device, 0x1000, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);
        domain.Detach(Device).ShouldBe(Errno.ENOENT);
    }

    [Fact]
    public void AttachOutsideTheDeviceTable_IsNoDevice_AndOtherDevicesKeepWorking()
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(Device).ShouldBe(Errno.Ok);
        domain.Table.MapPages(0x1000, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        domain.Attach(0x100).ShouldBe(Errno.ENODEV);
        domain.Devices.ShouldBe([Device]);
        rig.Machine.Iommu.Translate(Device, 0x1000, write: false).Spa.ShouldBe(0x40_0000_0000UL);
    }

    [Fact]
    public void AMappingAboveTheTop_GrowsTheTable_AndRewritesEveryAttachedDte()
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(Device).ShouldBe(Errno.Ok);
        domain.Attach(Device + 1).ShouldBe(Errno.Ok);
        ulong high = 1UL << 45;
        domain.Table.MapPages(high, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        domain.Table.TopLevel.ShouldBeGreaterThan(2);
        foreach (ushort id in new ushort[] { Device, Device + 1 })
        {
            var dte = rig.Driver.DeviceTable.Read(id);
            dte.HostPageTableRoot.ShouldBe(domain.Table.TopPa);
            ((int)dte.Mode).ShouldBe(domain.Table.TopLevel + 1);
            rig.Machine.Iommu.Translate(id, high + 0x10, write: true).Spa.ShouldBe(0x40_0000_0010UL);
        }
        rig.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3120);
    }

    [Fact]
    public void DomainIds_AreDistinct_AndFreedWithTheDomain()
    {
        var rig = new AmdRig();
        var a = rig.NewDomain();
        var b = rig.NewDomain();
        a.DomainId.ShouldNotBe(b.DomainId);
        a.DomainId.ShouldNotBe((ushort)0);
        a.Attach(Device).ShouldBe(Errno.Ok);
        a.Free().ShouldBe(Errno.EBUSY);
        a.Detach(Device).ShouldBe(Errno.Ok);
        long frames = rig.Allocator.FramesInUse;
        a.Free().ShouldBe(Errno.Ok);
        rig.Driver.DomainIds.InUse.ShouldBe(1);
        rig.Allocator.FramesInUse.ShouldBeLessThan(frames);
    }

    [Fact]
    public void Unmap_PostsOneRangedInvalidationWithPde_ThenWaits()
    {
        var rig = new AmdRig();
        var queue = new Mock<ICommandQueue>(MockBehavior.Strict);
        var posted = new List<AmdCommand>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Callback<AmdCommand>(posted.Add).Returns(Errno.Ok);
        queue.Setup(q => q.CompletionWait()).Callback(() => posted.Add(default)).Returns(Errno.Ok);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);

        domain!.Attach(Device).ShouldBe(Errno.Ok);
        posted.ShouldBe([AmdCommand.InvalidateDevtabEntry(Device), default]);
        posted.Clear();

        domain.Table.MapPages(0x20_0000, 0x40_0000_0000, 0x20_0000, 2, ReadWrite, out _).ShouldBe(Errno.Ok);
        posted.ShouldBeEmpty("mapping into empty slots needs no flush");

        var gather = new IotlbGather();
        domain.Table.UnmapPages(0x20_0000, 0x40_0000, gather, out _).ShouldBe(Errno.Ok);
        domain.Table.IotlbSync(gather);
        posted.ShouldBe([AmdCommand.InvalidateIommuPages(domain.DomainId, 0x20_0000, 0x5F_FFFF, pde: true), default]);
        var decoded = new InvalidateIommuPagesCommand([posted[0].Low, posted[0].High]);
        decoded.Size.ShouldBeTrue();
        decoded.Pde.ShouldBeTrue();
        decoded.Address.ShouldBe(0x3F_F000UL, "bit 22 is the lowest clear bit: the 8M block 0..0x7fffff covers 0x200000..0x5fffff");
        posted.Clear();

        domain.Detach(Device).ShouldBe(Errno.Ok);
        posted.ShouldBe([AmdCommand.InvalidateDevtabEntry(Device), default, AmdCommand.InvalidateDomain(domain.DomainId), default]);
    }

    [Fact]
    public void WithTheTestOnlySkip_IotlbFlushesPostOnlyTheirWait_AndDteUpdatesStayWhole()
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Driver.Platform.Machine.IommuMmioBase, SkipIotlbInvalidation = true });
        var queue = new Mock<ICommandQueue>(MockBehavior.Strict);
        var posted = new List<AmdCommand>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Callback<AmdCommand>(posted.Add).Returns(Errno.Ok);
        queue.Setup(q => q.CompletionWait()).Callback(() => posted.Add(default)).Returns(Errno.Ok);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);
        domain!.Attach(Device).ShouldBe(Errno.Ok);
        posted.ShouldBe([AmdCommand.InvalidateDevtabEntry(Device), default]);
        posted.Clear();

        domain.Table.MapPages(0x20_0000, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        var gather = new IotlbGather();
        domain.Table.UnmapPages(0x20_0000, 0x1000, gather, out _).ShouldBe(Errno.Ok);
        domain.Table.IotlbSync(gather);
        posted.ShouldBe([default], "the INVALIDATE_IOMMU_PAGES is skipped, its wait is not");
        posted.Clear();

        domain.FlushIotlbAll().ShouldBe(Errno.Ok);
        posted.ShouldBe([default]);
        posted.Clear();
        domain.Detach(Device).ShouldBe(Errno.Ok);
        posted.ShouldBe([AmdCommand.InvalidateDevtabEntry(Device), default, default]);
    }

    [Fact]
    public void Growth_RewritesEachDevice_WithAnInvalidationAndAWaitEach()
    {
        var rig = new AmdRig();
        var queue = new Mock<ICommandQueue>();
        var posted = new List<AmdCommand>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Callback<AmdCommand>(posted.Add).Returns(Errno.Ok);
        queue.Setup(q => q.CompletionWait()).Callback(() => posted.Add(default)).Returns(Errno.Ok);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);
        domain!.Attach(3).ShouldBe(Errno.Ok);
        domain.Attach(4).ShouldBe(Errno.Ok);
        posted.Clear();

        domain.Table.MapPages(1UL << 40, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        posted.ShouldBe([AmdCommand.InvalidateDevtabEntry(3), default, AmdCommand.InvalidateDevtabEntry(4), default]);
    }

    [Fact]
    public void AFailedFlush_IsCounted()
    {
        var rig = new AmdRig();
        var queue = new Mock<ICommandQueue>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Returns(Errno.Ok);
        queue.Setup(q => q.CompletionWait()).Returns(Errno.EIO);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);
        domain!.Attach(3).ShouldBe(Errno.EIO);
        domain.Devices.ShouldBeEmpty();
        domain.FailedFlushes.ShouldBe(1);
    }
}
