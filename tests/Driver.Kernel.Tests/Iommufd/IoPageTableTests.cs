using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>io_pagetable and iopt_pages through the context's kernel API, over the mock IOMMU.</summary>
public class IoPageTableTests
{
    private const ulong Pg = 4096;
    private const ulong Rw = (ulong)(IoasMapFlags.Readable | IoasMapFlags.Writeable);

    private static Errno Map(IommufdRig rig, uint ioasId, ulong uva, ulong length, ref ulong iova, bool fixedIova = true)
    {
        rig.Ctx.GetIoas(ioasId, out var ioas).ShouldBe(Errno.Ok);
        var flags = (IoasMapFlags)Rw | (fixedIova ? IoasMapFlags.FixedIova : 0);
        return rig.Ctx.IoasMapPages(ioas!, new UserPagesProvider(rig.Mm), uva, length, writableSource: true, flags, ref iova);
    }

    [Fact]
    public void A_map_fills_every_domain_and_pins_each_page_once()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        var (_, hwpt1, dev1) = rig.MockDomain(ioas);
        var (_, hwpt2, dev2) = rig.MockDomain(ioas);
        hwpt1.ShouldBe(hwpt2, "the second device reuses the automatic domain");
        ulong uva = rig.Buffer(16 * Pg);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, ioas, uva, 16 * Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(16);
        var domain = rig.Driver.DomainOf(dev1)!;
        rig.Driver.DomainOf(dev2).ShouldBeSameAs(domain);
        for (ulong i = 0; i < 16; i++)
        {
            rig.Mm.TryTranslate(uva + (i * Pg), out ulong pfn).ShouldBeTrue();
            domain.IovaToPhys(iova + (i * Pg)).ShouldBe(pfn * Pg);
            rig.Pages.PinCount(pfn).ShouldBe(1);
        }
        rig.CheckNoLeak();
    }

    [Fact]
    public void Two_domains_share_one_pin_and_a_domain_added_later_is_filled()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint ioas);
        ulong uva = rig.Buffer(8 * Pg);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, ioas, uva, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(0, "without a domain nothing is pinned");
        var (devA, _, a) = rig.MockDomain(ioas);
        rig.Pages.TotalPins.ShouldBe(8);
        ushort b = rig.NewDevice();
        rig.Ctx.DeviceBind(b, out uint devB).ShouldBe(Errno.Ok);
        rig.Ctx.HwptAlloc(devB, ioas, HwptAllocFlags.None, out uint hwptB).ShouldBe(Errno.Ok);
        uint pt = hwptB;
        rig.Ctx.DeviceAttach(devB, ref pt).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(8);
        rig.Driver.DomainOf(b)!.IovaToPhys(iova).ShouldBe(rig.Driver.DomainOf(a)!.IovaToPhys(iova));
        rig.Driver.DomainOf(b).ShouldNotBeSameAs(rig.Driver.DomainOf(a));
        rig.Ctx.DeviceUnbind(devA).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(8, "the explicit HWPT still maps the pages");
        rig.CheckNoLeak();
    }

    [Fact]
    public void Unmap_takes_whole_areas_only()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint ioas);
        rig.MockDomain(ioas);
        ulong uva = rig.Buffer(8 * Pg);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, ioas, uva, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        ulong second = iova + (4 * Pg);
        Map(rig, ioas, uva + (4 * Pg), 4 * Pg, ref second).ShouldBe(Errno.Ok);
        rig.Ctx.IoasUnmap(ioas, iova, 2 * Pg, out _).ShouldBe(Errno.ENOENT);
        rig.Ctx.IoasUnmap(ioas, iova + Pg, 4 * Pg, out _).ShouldBe(Errno.ENOENT);
        rig.Pages.TotalPins.ShouldBe(8);
        rig.Ctx.IoasUnmap(ioas, iova, 8 * Pg, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(8 * Pg);
        rig.Pages.TotalPins.ShouldBe(0);
        rig.Ctx.IoasUnmap(ioas, iova, 8 * Pg, out _).ShouldBe(Errno.ENOENT);
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_copy_shares_the_pins()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint src);
        rig.Ctx.IoasAlloc(out uint dst);
        rig.MockDomain(src);
        rig.MockDomain(dst);
        ulong uva = rig.Buffer(4 * Pg);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, src, uva, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        ulong dstIova = MockDomainOptions.DefaultApertureStart + (1UL << 20);
        rig.Ctx.IoasCopy(dst, src, iova, 4 * Pg, (IoasMapFlags)Rw | IoasMapFlags.FixedIova, ref dstIova).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(4);
        rig.Ctx.IoasUnmap(src, 0, ulong.MaxValue, out _).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(4, "the copy still holds them");
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_bad_user_address_half_way_leaves_nothing_pinned_or_mapped()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint ioas);
        var (_, _, dev) = rig.MockDomain(ioas);
        ulong uva = rig.Buffer(8 * Pg);
        rig.Mm.Munmap(uva + (4 * Pg), 4 * Pg).ShouldBe(Errno.Ok);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, ioas, uva, 8 * Pg, ref iova).ShouldBe(Errno.EFAULT);
        rig.Pages.TotalPins.ShouldBe(0);
        rig.Driver.DomainOf(dev)!.IovaToPhys(iova).ShouldBe(0UL);
        rig.Ctx.GetIoas(ioas, out var obj);
        obj!.Iopt.Areas.IsEmpty.ShouldBeTrue();
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_limited_pin_batch_pins_in_pieces_and_unwinds_them()
    {
        var rig = new IommufdRig();
        rig.Ctx.PinBatch = 3;
        rig.Ctx.IoasAlloc(out uint ioas);
        rig.MockDomain(ioas);
        ulong uva = rig.Buffer(10 * Pg);
        rig.Mm.Munmap(uva + (8 * Pg), Pg);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, ioas, uva, 10 * Pg, ref iova).ShouldBe(Errno.EFAULT);
        rig.Pages.TotalPins.ShouldBe(0);
        Map(rig, ioas, uva, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(8);
        rig.CheckNoLeak();
    }

    [Fact]
    public void Dirty_bits_set_by_the_device_reach_the_bitmap_and_are_cleared()
    {
        var rig = new IommufdRig(MockDomainOptions.DirtyTracking);
        rig.Ctx.IoasAlloc(out uint ioas);
        ushort dev = rig.NewDevice();
        rig.Ctx.DeviceBind(dev, out uint devId);
        rig.Ctx.HwptAlloc(devId, ioas, HwptAllocFlags.DirtyTracking, out uint hwpt).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        rig.Ctx.DeviceAttach(devId, ref pt).ShouldBe(Errno.Ok);
        ulong uva = rig.Buffer(8 * Pg);
        ulong iova = MockDomainOptions.DefaultApertureStart;
        Map(rig, ioas, uva, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Ctx.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.Ok);
        var domain = rig.Driver.DomainOf(dev)!;
        domain.MarkDirty(iova + Pg).ShouldBeTrue();
        domain.MarkDirty(iova + (5 * Pg)).ShouldBeTrue();
        rig.Ctx.HwptGetDirtyBitmap(hwpt, iova, 8 * Pg, Pg, DirtyFlags.None, out var bitmap).ShouldBe(Errno.Ok);
        bitmap!.Count().ShouldBe(2UL);
        bitmap.IsSet(iova + Pg).ShouldBeTrue();
        bitmap.IsSet(iova + (5 * Pg)).ShouldBeTrue();
        rig.Ctx.HwptGetDirtyBitmap(hwpt, iova, 8 * Pg, Pg, DirtyFlags.None, out bitmap).ShouldBe(Errno.Ok);
        bitmap!.Count().ShouldBe(0UL);
        rig.CheckNoLeak();
    }
}
