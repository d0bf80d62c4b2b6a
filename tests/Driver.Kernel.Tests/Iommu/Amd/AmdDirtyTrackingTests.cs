using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Tests.Support;
using Driver.Platform;
using Driver.Platform.Iommu;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>Dirty tracking on AMD domains (amd_iommu_set_dirty_tracking, read_and_clear_dirty) and the allocation flags that ask for it.</summary>
public sealed class AmdDirtyTrackingTests
{
    private const IommuProt ReadWrite = IommuProt.Read | IommuProt.Write;

    private static AmdRig RigWithHd(bool hd) => new(machine: new MachineConfig
    {
        Iommu = new IommuConfig { Efr = new IommuConfig().Efr.WithHdSup(hd) },
    });

    private static (AmdProtectionDomain Domain, List<AmdCommand> Posted) MockedDomain(AmdRig rig)
    {
        var queue = new Mock<ICommandQueue>(MockBehavior.Strict);
        var posted = new List<AmdCommand>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Callback<AmdCommand>(posted.Add).Returns(Errno.Ok);
        queue.Setup(q => q.CompletionWait()).Callback(() => posted.Add(default)).Returns(Errno.Ok);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);
        return (domain!, posted);
    }

    [Fact]
    public void AllocFlags_AreRefusedAsLinuxDoes()
    {
        var without = RigWithHd(false);
        without.Driver.AllocPagingDomain(DomainAllocFlags.DirtyTracking, out var none).ShouldBe(Errno.EOPNOTSUPP);
        none.ShouldBeNull();
        without.Driver.AllocPagingDomain((DomainAllocFlags)0x80, out _).ShouldBe(Errno.EOPNOTSUPP);
        without.Driver.AllocPagingDomain(DomainAllocFlags.None, out var plain).ShouldBe(Errno.Ok);
        plain.ShouldBeOfType<AmdProtectionDomain>();

        var with = RigWithHd(true);
        with.Driver.AllocPagingDomain(DomainAllocFlags.DirtyTracking, out var tracked).ShouldBe(Errno.Ok);
        tracked.ShouldNotBeNull();
        with.Driver.AllocPagingDomain(DomainAllocFlags.DirtyTracking | (DomainAllocFlags)0x80, out _).ShouldBe(Errno.EOPNOTSUPP);
    }

    [Fact]
    public void SetDirtyTracking_WithoutHdSup_IsNotSupported_AndChangesNothing()
    {
        var rig = RigWithHd(false);
        var (domain, posted) = MockedDomain(rig);
        domain.Attach(3).ShouldBe(Errno.Ok);
        posted.Clear();
        domain.SetDirtyTracking(true).ShouldBe(Errno.EOPNOTSUPP);
        domain.DirtyTracking.ShouldBeFalse();
        posted.ShouldBeEmpty();
        rig.Driver.DeviceTable.Read(3).HostAccessDirty.ShouldBe((byte)0);
    }

    [Fact]
    public void SetDirtyTracking_RewritesEveryAttachedDte_ThenFlushesTheDomain_OnlyWhenItChanges()
    {
        var rig = RigWithHd(true);
        var (domain, posted) = MockedDomain(rig);
        domain.Attach(3).ShouldBe(Errno.Ok);
        domain.Attach(4).ShouldBe(Errno.Ok);
        posted.Clear();

        domain.SetDirtyTracking(true).ShouldBe(Errno.Ok);
        domain.DirtyTracking.ShouldBeTrue();
        posted.ShouldBe([AmdCommand.InvalidateDevtabEntry(3), default, AmdCommand.InvalidateDevtabEntry(4), default,
            AmdCommand.InvalidateDomain(domain.DomainId), default]);
        rig.Driver.DeviceTable.Read(3).HostAccessDirty.ShouldBe((byte)3);
        rig.Driver.DeviceTable.Read(4).HostAccessDirty.ShouldBe((byte)3);
        domain.EntryFor().HostAccessDirty.ShouldBe((byte)3);
        posted.Clear();

        domain.SetDirtyTracking(true).ShouldBe(Errno.Ok);
        posted.ShouldBeEmpty("already on");

        domain.SetDirtyTracking(false).ShouldBe(Errno.Ok);
        rig.Driver.DeviceTable.Read(3).HostAccessDirty.ShouldBe((byte)0);
        posted.Count.ShouldBe(6);
    }

    [Fact]
    public void SetDirtyTracking_StopsAtTheFirstDteThatFails()
    {
        var rig = RigWithHd(true);
        var queue = new Mock<ICommandQueue>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Returns(Errno.Ok);
        queue.SetupSequence(q => q.CompletionWait()).Returns(Errno.Ok).Returns(Errno.EIO);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);
        domain!.Attach(3).ShouldBe(Errno.Ok);
        domain.SetDirtyTracking(true).ShouldBe(Errno.EIO);
        domain.FailedFlushes.ShouldBe(1);
    }

    [Fact]
    public void ReadAndClearDirty_ReportsAndCleansDirtyLeaves_AndFlushesThem()
    {
        var rig = RigWithHd(true);
        var (domain, posted) = MockedDomain(rig);
        // One call per page: four 4K leaves (one call of four pages would map a 16K leaf).
        for (ulong i = 0; i < 4; i++)
            domain.MapPages(0x10_0000 + (i << 12), 0x40_0000_0000 + (i << 12), 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        ulong leaf = TableWalker.LeafItemPa(domain.Table, rig.Machine.KernelMemory, 0x10_2000);
        rig.Machine.KernelMemory.WriteU64(leaf, new AmdV1Pte(rig.Machine.KernelMemory.ReadU64(leaf)).WithDirty(true).Raw);

        var bitmap = new IovaBitmap(0x10_0000, 0x4000);
        domain.ReadAndClearDirty(0x10_0000, 0x4000, DirtyFlags.None, bitmap).ShouldBe(Errno.EINVAL, "tracking is off");
        domain.ReadAndClearDirty(0x10_0000, 0x4000, DirtyFlags.NoClear, bitmap).ShouldBe(Errno.Ok, "reading without clearing is allowed");
        bitmap.IsSet(0x10_2000).ShouldBeTrue();
        bitmap.Count().ShouldBe(1UL);
        new AmdV1Pte(rig.Machine.KernelMemory.ReadU64(leaf)).Dirty.ShouldBeTrue();
        posted.ShouldBeEmpty();

        domain.SetDirtyTracking(true).ShouldBe(Errno.Ok);
        posted.Clear();
        var second = new IovaBitmap(0x10_0000, 0x4000);
        domain.ReadAndClearDirty(0x10_0000, 0x4000, DirtyFlags.None, second).ShouldBe(Errno.Ok);
        second.IsSet(0x10_2000).ShouldBeTrue();
        new AmdV1Pte(rig.Machine.KernelMemory.ReadU64(leaf)).Dirty.ShouldBeFalse();
        posted.ShouldBe([AmdCommand.InvalidateIommuPages(domain.DomainId, 0x10_2000, 0x10_2FFF, pde: true), default]);
    }

    [Fact]
    public void TheDomainOps_AnswerFromTheTable()
    {
        var rig = RigWithHd(false);
        IIommuDomainOps ops = rig.NewDomain();
        ops.MapPages(0x20_0000, 0x40_0020_0000, 0x20_0000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        ops.IovaToPhys(0x20_1234).ShouldBe(0x40_0020_1234UL);
        ops.VaBits.ShouldBe(((AmdProtectionDomain)ops).Table.VaBits);
        ops.PageSizeBitmap.ShouldBe(((AmdProtectionDomain)ops).Table.PageSizeBitmap);
        var gather = new IotlbGather();
        ops.UnmapPages(0x20_0000, 0x20_0000, 1, gather).ShouldBe(0x20_0000UL);
        ops.IotlbSync(gather);
        ops.IovaToPhys(0x20_1234).ShouldBe(0UL);
        ops.Free().ShouldBe(Errno.Ok);
        ops.Free().ShouldBe(Errno.Ok, "a second free does nothing");
    }

    [Fact]
    public void Free_WithADeviceAttached_IsBusy()
    {
        var rig = RigWithHd(false);
        var domain = rig.NewDomain();
        domain.Attach(5).ShouldBe(Errno.Ok);
        domain.Free().ShouldBe(Errno.EBUSY);
        domain.Detach(5).ShouldBe(Errno.Ok);
        domain.Detach(5).ShouldBe(Errno.ENOENT);
        domain.Free().ShouldBe(Errno.Ok);
        Should.Throw<ObjectDisposedException>(() => domain.Table);
    }
}
