using Driver.Kernel.Iommu;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// The selftest's mock IOMMU driver on its own (selftest.c): devices exist only once added, paging
/// domains take only the dirty flag and only when the mock tracks dirty pages, a dirty-tracking
/// domain will not attach a device that cannot track, and HW_INFO answers as IOMMU_HW_INFO_TYPE_SELFTEST.
/// </summary>
public class MockIommuDriverTests
{
    private const ulong Pg = 4096;
    private const ushort Dev = 7;

    private static (MockIommuDriver Driver, FrameAllocator Frames) New(MockDomainOptions? options = null)
    {
        var memory = new PhysicalMemory();
        var frames = new FrameAllocator(memory, 0x20_0000_0000, 16UL << 20);
        return (new MockIommuDriver(memory, frames, options), frames);
    }

    private static MockDomain Alloc(MockIommuDriver driver, DomainAllocFlags flags = DomainAllocFlags.None)
    {
        driver.AllocPagingDomain(flags, out var ops).ShouldBe(Errno.Ok);
        return ops.ShouldBeOfType<MockDomain>();
    }

    [Fact]
    public void A_device_not_added_does_not_probe_or_attach()
    {
        var (driver, _) = New();
        driver.ProbeDevice(Dev, out var caps).ShouldBe(Errno.ENODEV);
        caps.ShouldBe(default);
        driver.AttachDevice(Dev, IommuDomainType.Blocked, null).ShouldBe(Errno.ENODEV);
    }

    [Theory]
    [InlineData(false, MockDeviceFlags.None, false)]
    [InlineData(true, MockDeviceFlags.None, true)]
    [InlineData(true, MockDeviceFlags.NoDirty, false)]
    public void A_device_tracks_dirty_pages_when_the_mock_does_and_its_flags_allow(bool mockDirty, MockDeviceFlags flags, bool dirty)
    {
        var (driver, _) = New(mockDirty ? MockDomainOptions.DirtyTracking : MockDomainOptions.Plain);
        driver.AddDevice(Dev, flags);
        driver.ProbeDevice(Dev, out var caps).ShouldBe(Errno.Ok);
        caps.ShouldBe(new IommuDeviceCaps(dirty, 3));
    }

    [Fact]
    public void Paging_domains_take_only_the_dirty_flag_and_only_on_a_dirty_mock()
    {
        var (plain, _) = New();
        plain.AllocPagingDomain(DomainAllocFlags.DirtyTracking, out var none).ShouldBe(Errno.EOPNOTSUPP);
        none.ShouldBeNull();
        plain.AllocPagingDomain((DomainAllocFlags)2, out none).ShouldBe(Errno.EOPNOTSUPP);
        none.ShouldBeNull();
        plain.LiveDomains.ShouldBeEmpty();

        var (dirty, _) = New(MockDomainOptions.DirtyTracking);
        dirty.AllocPagingDomain(DomainAllocFlags.DirtyTracking | (DomainAllocFlags)2, out none).ShouldBe(Errno.EOPNOTSUPP);
        none.ShouldBeNull();
        var tracking = Alloc(dirty, DomainAllocFlags.DirtyTracking);
        tracking.DirtyCapable.ShouldBeTrue();
        var untracked = Alloc(dirty);
        untracked.DirtyCapable.ShouldBeFalse("a dirty mock's domain tracks only when asked to");
        dirty.LiveDomains.ShouldBe([tracking, untracked]);
        untracked.Free().ShouldBe(Errno.Ok);
        dirty.LiveDomains.ShouldBe([tracking]);
    }

    [Fact]
    public void Attach_refuses_a_foreign_or_freed_domain_and_a_tracking_domain_on_a_device_that_cannot_track()
    {
        var (driver, _) = New(MockDomainOptions.DirtyTracking);
        driver.AddDevice(Dev, MockDeviceFlags.NoDirty);
        var plain = Alloc(driver);
        var tracking = Alloc(driver, DomainAllocFlags.DirtyTracking);
        driver.AttachDevice(Dev, IommuDomainType.Paging, plain).ShouldBe(Errno.Ok);
        driver.DomainOf(Dev).ShouldBeSameAs(plain);
        driver.AttachDevice(Dev, IommuDomainType.Paging, tracking).ShouldBe(Errno.EINVAL);
        driver.AttachDevice(Dev, IommuDomainType.Paging, null).ShouldBe(Errno.EINVAL);
        driver.AttachDevice(Dev, IommuDomainType.Paging, new Moq.Mock<IIommuDomainOps>().Object).ShouldBe(Errno.EINVAL);
        var freed = Alloc(driver);
        freed.Free().ShouldBe(Errno.Ok);
        driver.AttachDevice(Dev, IommuDomainType.Paging, freed).ShouldBe(Errno.EINVAL);
        driver.DomainOf(Dev).ShouldBeSameAs(plain, "a refused attach leaves the device where it was");
        driver.AttachDevice(Dev, IommuDomainType.Blocked, plain).ShouldBe(Errno.Ok);
        driver.DomainOf(Dev).ShouldBeNull();
        driver.DomainOf((ushort)(Dev + 1)).ShouldBeNull();
    }

    [Theory]
    [InlineData((uint)Uapi.HwInfoType.None)]
    [InlineData((uint)Uapi.HwInfoType.Selftest)]
    public void Hw_info_is_the_selftest_struct_for_the_default_or_the_selftest_type(uint asked)
    {
        var (driver, _) = New();
        uint type = asked;
        driver.HwInfo(Dev, ref type, out var data).ShouldBe(Errno.Ok);
        type.ShouldBe((uint)Uapi.HwInfoType.Selftest);
        data.Length.ShouldBe(Uapi.IommuTestHwInfo.Bytes);
        var info = Uapi.IommuTestHwInfo.FromBytes(data);
        info.TestReg.ShouldBe(IommufdFile.SelftestRegval);
        info.Flags.ShouldBe(0u);
    }

    [Fact]
    public void Hw_info_of_another_type_is_EOPNOTSUPP_with_no_data()
    {
        var (driver, _) = New();
        uint type = (uint)Uapi.HwInfoType.Amd;
        driver.HwInfo(Dev, ref type, out var data).ShouldBe(Errno.EOPNOTSUPP);
        data.ShouldBeEmpty();
        type.ShouldBe((uint)Uapi.HwInfoType.Amd);
    }

    [Fact]
    public void The_domain_maps_only_inside_its_aperture_as_Linux_mock_does()
    {
        var (driver, _) = New();
        var domain = Alloc(driver);
        ulong start = MockDomainOptions.DefaultApertureStart, end = MockDomainOptions.DefaultApertureEnd;
        domain.ApertureStart.ShouldBe(start);
        domain.ApertureEnd.ShouldBe(end);
        domain.MapPages(start - Pg, 0x10_0000, Pg, 1, IommuProt.Read, out ulong mapped).ShouldBe(Errno.EINVAL);
        mapped.ShouldBe(0UL);
        domain.MapPages(end - Pg + 1, 0x10_0000, Pg, 2, IommuProt.Read, out mapped).ShouldBe(Errno.EINVAL);
        mapped.ShouldBe(0UL);
        domain.IovaToPhys(end - Pg + 1).ShouldBe(0UL, "nothing of a refused map is left");
        domain.MapPages(end - Pg + 1, 0x10_0000, Pg, 1, IommuProt.Read, out mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(Pg);
        domain.MapPages(start, 0x20_0000, Pg, 2, IommuProt.Read | IommuProt.Write, out mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(2 * Pg);
        domain.IovaToPhys(start + Pg + 0x10).ShouldBe(0x20_1010UL);
        domain.UnmapPages(start, Pg, 2, new IotlbGather()).ShouldBe(2 * Pg);
        domain.IovaToPhys(start + Pg).ShouldBe(0UL);
        domain.IovaToPhys(end - Pg + 1).ShouldBe(0x10_0000UL);
    }

    [Fact]
    public void A_range_that_wraps_is_refused_even_by_an_aperture_of_everything()
    {
        var (driver, _) = New(MockDomainOptions.Plain with { ApertureStart = 0, ApertureEnd = ulong.MaxValue });
        var domain = Alloc(driver);
        domain.MapPages(ulong.MaxValue - Pg + 1, 0x10_0000, Pg, 2, IommuProt.Read, out ulong mapped).ShouldBe(Errno.EINVAL);
        mapped.ShouldBe(0UL);
        domain.IovaToPhys(0).ShouldBe(0UL);
    }

    [Fact]
    public void A_domain_without_dirty_tracking_refuses_every_dirty_operation()
    {
        var (driver, _) = New(MockDomainOptions.DirtyTracking);
        var domain = Alloc(driver);
        domain.MapPages(MockDomainOptions.DefaultApertureStart, 0x10_0000, Pg, 1, IommuProt.Write, out _).ShouldBe(Errno.Ok);
        domain.SetDirtyTracking(true).ShouldBe(Errno.EOPNOTSUPP);
        domain.DirtyTracking.ShouldBeFalse();
        domain.MarkDirty(MockDomainOptions.DefaultApertureStart).ShouldBeFalse();
        var bitmap = new IovaBitmap(MockDomainOptions.DefaultApertureStart, Pg);
        domain.ReadAndClearDirty(MockDomainOptions.DefaultApertureStart, Pg, DirtyFlags.None, bitmap).ShouldBe(Errno.EOPNOTSUPP);
        bitmap.Count().ShouldBe(0UL);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_marked_page_reads_dirty_once_and_the_clearing_read_flushes(bool huge)
    {
        var options = huge ? MockDomainOptions.HugePages with { Dirty = true } : MockDomainOptions.DirtyTracking;
        var (driver, _) = New(options);
        var domain = Alloc(driver, DomainAllocFlags.DirtyTracking);
        ulong iova = MockDomainOptions.DefaultApertureStart, size = huge ? 2UL << 20 : Pg;
        domain.MapPages(iova, 0x20_0000, size, 1, IommuProt.Read | IommuProt.Write, out _).ShouldBe(Errno.Ok);
        domain.MarkDirty(iova).ShouldBeFalse("tracking is off");
        domain.SetDirtyTracking(true).ShouldBe(Errno.Ok);
        domain.DirtyTracking.ShouldBeTrue();
        domain.MarkDirty(iova + size).ShouldBeFalse("nothing maps it");
        domain.MarkDirty(iova).ShouldBeTrue();
        domain.MarkDirty(iova).ShouldBeTrue("an already dirty leaf stays dirty");
        var peek = new IovaBitmap(iova, size);
        domain.ReadAndClearDirty(iova, size, DirtyFlags.NoClear, peek).ShouldBe(Errno.Ok);
        peek.Count().ShouldBe(size / Pg);
        int flushes = domain.Flushes;
        var read = new IovaBitmap(iova, size);
        domain.ReadAndClearDirty(iova, size, DirtyFlags.None, read).ShouldBe(Errno.Ok);
        read.Count().ShouldBe(size / Pg);
        domain.Flushes.ShouldBeGreaterThan(flushes, "clearing a dirty bit is flushed");
        var again = new IovaBitmap(iova, size);
        domain.ReadAndClearDirty(iova, size, DirtyFlags.None, again).ShouldBe(Errno.Ok);
        again.Count().ShouldBe(0UL);
        domain.SetDirtyTracking(false).ShouldBe(Errno.Ok);
        domain.DirtyTracking.ShouldBeFalse();
        domain.MarkDirty(iova).ShouldBeFalse();
    }

    [Fact]
    public void Free_gives_every_table_frame_back_once_and_the_table_is_gone()
    {
        var (driver, frames) = New();
        long before = frames.FramesInUse;
        var domain = Alloc(driver);
        domain.MapPages(MockDomainOptions.DefaultApertureStart, 0x10_0000, Pg, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        frames.FramesInUse.ShouldBeGreaterThan(before);
        domain.FlushIotlbAll().ShouldBe(Errno.Ok);
        domain.Flushes.ShouldBe(1);
        domain.IsFreed.ShouldBeFalse();
        domain.Free().ShouldBe(Errno.Ok);
        domain.IsFreed.ShouldBeTrue();
        frames.FramesInUse.ShouldBe(before);
        domain.Free().ShouldBe(Errno.Ok);
        frames.FramesInUse.ShouldBe(before);
        Should.Throw<ObjectDisposedException>(() => _ = domain.Table);
        driver.LiveDomains.ShouldBeEmpty();
    }

    [Fact]
    public void The_presets_are_the_selftest_variants()
    {
        MockDomainOptions.Plain.PageSizes.ShouldBe(0x1000UL);
        MockDomainOptions.Plain.ApertureStart.ShouldBe(0x100_0000UL);
        MockDomainOptions.Plain.ApertureEnd.ShouldBe(0x7FFF_FFFFUL);
        MockDomainOptions.Plain.Dirty.ShouldBeFalse();
        MockDomainOptions.HugePages.PageSizes.ShouldBe(0x4020_1000UL, "4K, 2M and 1G");
        MockDomainOptions.DirtyTracking.Dirty.ShouldBeTrue();
        MockDomainOptions.Limited.ApertureStart.ShouldBe(0x100_0000UL);
        MockDomainOptions.Limited.ApertureEnd.ShouldBe(0x10F_FFFFUL, "1 MiB from 16 MiB");
    }

    [Fact]
    public void The_mock_clock_moves_only_forward_and_only_when_waited_on()
    {
        var clock = new MockClock();
        clock.NowNs.ShouldBe(0);
        clock.Delay(250);
        clock.NowNs.ShouldBe(250);
        clock.Delay(-100);
        clock.NowNs.ShouldBe(250, "a negative wait is no wait");
        clock.Delay(50);
        clock.NowNs.ShouldBe(300);
    }
}
