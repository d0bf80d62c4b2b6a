using Driver.Kernel.Iommu;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>iommufd against a mocked driver and mocked domain ops: what it asks of them, and what it does with their errors.</summary>
public class IommufdMoqTests
{
    private const ulong Pg = 4096;

    private sealed class Setup
    {
        public Setup(Func<Mock<IIommuDomainOps>>? domain = null)
        {
            var memory = new PhysicalMemory();
            var frames = new FrameAllocator(memory, IommufdRig.UserBase, 4096 * Pg);
            Pages = new PageCounts(frames);
            Mm = new UserAddressSpace(Pages, memory);
            Driver = new Mock<IIommuDriver>(MockBehavior.Strict);
            var caps = new IommuDeviceCaps(false, 3);
            Driver.Setup(d => d.ProbeDevice(It.IsAny<ushort>(), out caps)).Returns(Errno.Ok);
            Driver.Setup(d => d.AttachDevice(It.IsAny<ushort>(), It.IsAny<IommuDomainType>(), It.IsAny<IIommuDomainOps?>())).Returns(Errno.Ok);
            Driver.Setup(d => d.AllocPagingDomain(It.IsAny<DomainAllocFlags>(), out It.Ref<IIommuDomainOps?>.IsAny))
                .Returns(new AllocDelegate((DomainAllocFlags _, out IIommuDomainOps? ops) =>
                {
                    var made = (domain ?? DefaultDomain)();
                    Domains.Add(made);
                    ops = made.Object;
                    return Errno.Ok;
                }));
            Core = new IommuCore(Driver.Object, new MockClock(), new IommuCoreConfig { Passthrough = true });
            Ctx = new IommufdSubsystem(Core, memory).Open();
            Core.ProbeDevice(0x10).ShouldBe(Errno.Ok);
        }

        private delegate Errno AllocDelegate(DomainAllocFlags flags, out IIommuDomainOps? ops);

        public PageCounts Pages { get; }

        public UserAddressSpace Mm { get; }

        public Mock<IIommuDriver> Driver { get; }

        public List<Mock<IIommuDomainOps>> Domains { get; } = [];

        public IommuCore Core { get; }

        public IommufdContext Ctx { get; }

        public Errno Map(uint ioas, ulong uva, ulong length, ulong iova)
        {
            Ctx.GetIoas(ioas, out var obj);
            return Ctx.IoasMapPages(obj!, new UserPagesProvider(Mm), uva, length, true,
                IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, ref iova);
        }

        public ulong Buffer(ulong length)
        {
            Mm.Mmap(length, out ulong uva);
            Mm.Populate(uva, length);
            return uva;
        }
    }

    public static Mock<IIommuDomainOps> DefaultDomain()
    {
        var ops = new Mock<IIommuDomainOps>(MockBehavior.Strict);
        ops.SetupGet(o => o.PageSizeBitmap).Returns(Pg);
        ops.SetupGet(o => o.VaBits).Returns(32);
        ops.Setup(o => o.MapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IommuProt>(), out It.Ref<ulong>.IsAny))
            .Returns(new MapDelegate((ulong _, ulong _, ulong size, ulong count, IommuProt _, out ulong mapped) =>
            {
                mapped = size * count;
                return Errno.Ok;
            }));
        ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>()))
            .Returns((ulong _, ulong size, ulong count, IotlbGather _) => size * count);
        ops.Setup(o => o.IotlbSync(It.IsAny<IotlbGather>()));
        ops.Setup(o => o.Free()).Returns(Errno.Ok);
        return ops;
    }

    public delegate Errno MapDelegate(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped);

    [Fact]
    public void A_domain_failing_half_way_is_unmapped_again_and_nothing_stays_pinned()
    {
        int calls = 0;
        var s = new Setup(() =>
        {
            var ops = DefaultDomain();
            ops.Setup(o => o.MapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IommuProt>(), out It.Ref<ulong>.IsAny))
                .Returns(new MapDelegate((ulong _, ulong _, ulong size, ulong count, IommuProt _, out ulong mapped) =>
                {
                    mapped = 0;
                    if (++calls == 2)
                        return Errno.ENOMEM;
                    mapped = size * count;
                    return Errno.Ok;
                }));
            return ops;
        });
        s.Ctx.IoasAlloc(out uint ioas);
        s.Ctx.DeviceBind(0x10, out uint dev).ShouldBe(Errno.Ok);
        uint pt = ioas;
        s.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        // Disable large pages so that every page is its own map call.
        s.Ctx.GetIoas(ioas, out var obj);
        obj!.Iopt.SetDisableLargePages().ShouldBe(Errno.Ok);
        ulong uva = s.Buffer(4 * Pg);
        s.Map(ioas, uva, 4 * Pg, MockDomainOptions.DefaultApertureStart).ShouldBe(Errno.ENOMEM);
        s.Domains[0].Verify(o => o.UnmapPages(MockDomainOptions.DefaultApertureStart, Pg, 1, It.IsAny<IotlbGather>()), Times.Once);
        s.Pages.TotalPins.ShouldBe(0);
        obj.Iopt.Areas.IsEmpty.ShouldBeTrue();
        s.Ctx.Close();
    }

    [Fact]
    public void An_incompatible_automatic_domain_makes_the_attach_try_a_new_one()
    {
        var s = new Setup();
        s.Core.ProbeDevice(0x11).ShouldBe(Errno.Ok);
        s.Ctx.IoasAlloc(out uint ioas);
        s.Ctx.DeviceBind(0x10, out uint a).ShouldBe(Errno.Ok);
        s.Ctx.DeviceBind(0x11, out uint b).ShouldBe(Errno.Ok);
        uint pt = ioas;
        s.Ctx.DeviceAttach(a, ref pt).ShouldBe(Errno.Ok);
        var first = s.Domains[0].Object;
        s.Driver.Setup(d => d.AttachDevice(0x11, IommuDomainType.Paging, first)).Returns(Errno.EINVAL);
        uint pt2 = ioas;
        s.Ctx.DeviceAttach(b, ref pt2).ShouldBe(Errno.Ok);
        pt2.ShouldNotBe(pt);
        s.Domains.Count.ShouldBe(2);
        s.Driver.Verify(d => d.AttachDevice(0x11, IommuDomainType.Paging, s.Domains[1].Object), Times.Once);
        s.Ctx.Close();
        s.Domains.ForEach(d => d.Verify(o => o.Free(), Times.Once));
    }

    [Fact]
    public void Another_attach_error_is_returned_and_no_domain_is_left()
    {
        var s = new Setup();
        s.Ctx.IoasAlloc(out uint ioas);
        s.Ctx.DeviceBind(0x10, out uint a).ShouldBe(Errno.Ok);
        s.Driver.Setup(d => d.AttachDevice(0x10, IommuDomainType.Paging, It.IsAny<IIommuDomainOps?>())).Returns(Errno.ENOSPC);
        uint pt = ioas;
        s.Ctx.DeviceAttach(a, ref pt).ShouldBe(Errno.ENOSPC);
        s.Domains.Single().Verify(o => o.Free(), Times.Once);
        s.Ctx.Objects.Count.ShouldBe(2, "the IOAS and the device only");
        s.Ctx.Close();
    }

    [Fact]
    public void A_domain_without_dirty_tracking_says_so()
    {
        var s = new Setup(() =>
        {
            var ops = DefaultDomain();
            ops.Setup(o => o.SetDirtyTracking(true)).Returns(Errno.EOPNOTSUPP);
            return ops;
        });
        s.Ctx.IoasAlloc(out uint ioas);
        s.Ctx.DeviceBind(0x10, out _).ShouldBe(Errno.Ok);
        s.Ctx.GetIoas(ioas, out var obj);
        s.Core.AllocPagingDomain(DomainAllocFlags.None, out var domain, strict: true);
        obj!.Iopt.SetDirtyTracking(domain!, true).ShouldBe(Errno.EOPNOTSUPP);
        s.Ctx.Close();
    }

    [Fact]
    public void A_failed_clear_when_tracking_is_turned_on_leaves_tracking_off_and_returns_the_error()
    {
        var s = new Setup(() =>
        {
            var ops = DefaultDomain();
            ops.Setup(o => o.SetDirtyTracking(It.IsAny<bool>())).Returns(Errno.Ok);
            ops.Setup(o => o.ReadAndClearDirty(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<DirtyFlags>(), It.IsAny<IovaBitmap>())).Returns(Errno.EIO);
            return ops;
        });
        s.Ctx.IoasAlloc(out uint ioas);
        s.Map(ioas, s.Buffer(4 * Pg), 4 * Pg, MockDomainOptions.DefaultApertureStart).ShouldBe(Errno.Ok);
        s.Ctx.GetIoas(ioas, out var obj);
        s.Core.AllocPagingDomain(DomainAllocFlags.DirtyTracking, out var domain, strict: true);
        obj!.Iopt.SetDirtyTracking(domain!, true).ShouldBe(Errno.EIO);
        var ops = s.Domains.Single();
        ops.Verify(o => o.ReadAndClearDirty(MockDomainOptions.DefaultApertureStart, 4 * Pg, DirtyFlags.None, It.IsAny<IovaBitmap>()), Times.Once);
        ops.Verify(o => o.SetDirtyTracking(false), Times.Once);
        s.Ctx.Close();
    }

    [Fact]
    public void A_domain_with_a_smaller_aperture_reserves_the_rest()
    {
        var s = new Setup(() =>
        {
            var ops = DefaultDomain();
            ops.SetupGet(o => o.VaBits).Returns(20);
            return ops;
        });
        s.Ctx.IoasAlloc(out uint ioas);
        s.Ctx.DeviceBind(0x10, out uint dev);
        uint pt = ioas;
        s.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        s.Ctx.IoasIovaRanges(ioas, out var ranges, out ulong alignment).ShouldBe(Errno.Ok);
        ranges.ShouldBe([new IovaSpan(0, (1UL << 20) - 1, true)]);
        alignment.ShouldBe(Pg);
        s.Ctx.Close();
    }

    [Fact]
    public void A_domain_whose_smallest_page_exceeds_a_page_is_refused()
    {
        var s = new Setup(() =>
        {
            var ops = DefaultDomain();
            ops.SetupGet(o => o.PageSizeBitmap).Returns(2 * Pg);
            return ops;
        });
        s.Ctx.IoasAlloc(out uint ioas);
        s.Ctx.DeviceBind(0x10, out uint dev);
        uint pt = ioas;
        s.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.EINVAL);
        s.Domains.Single().Verify(o => o.Free(), Times.Once);
        s.Ctx.Close();
    }

    [Fact]
    public void A_driver_without_hw_info_reports_type_none_whatever_type_is_asked_for()
    {
        var s = new Setup();
        s.Ctx.DeviceBind(0x10, out uint dev).ShouldBe(Errno.Ok);
        var file = new IommufdFile(s.Ctx, s.Mm, new FdTable());
        var cmd = new byte[Driver.Hw.Iommufd.IommuHwInfo.Bytes];
        default(Driver.Hw.Iommufd.IommuHwInfo).WithSize(Driver.Hw.Iommufd.IommuHwInfo.Bytes).WithFlags(1).WithDevId(dev)
            .WithOutDataType(Driver.Hw.Iommufd.HwInfoType.Amd).WithDataLen(0).CopyTo(cmd);
        file.Ioctl(IommufdFile.Command(Driver.Hw.Iommufd.IommufdCmd.GetHwInfo), cmd).ShouldBe(Errno.Ok);
        var back = Driver.Hw.Iommufd.IommuHwInfo.FromBytes(cmd);
        back.OutDataType.ShouldBe(Driver.Hw.Iommufd.HwInfoType.None);
        back.DataLen.ShouldBe(0u);
        back.OutCapabilities.ShouldBe((ulong)Driver.Hw.Iommufd.HwCapabilities.PciAtsNotSupported);
    }
}
