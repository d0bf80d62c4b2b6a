using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// GET_DIRTY_BITMAP's range checks in Linux's order (iommufd_check_iova_range): EOVERFLOW only
/// when iova + length - 1 wraps; EINVAL for an end or start off the table's or the bitmap's page
/// size (a page size need not be a power of two: only its mask is applied), a page size of 0, or a
/// range with a gap.
/// </summary>
public class DirtyBitmapRangeTests
{
    private const ulong Pg = 4096;
    private const ulong Start = MockDomainOptions.DefaultApertureStart;

    private static (IommufdRig Rig, uint Hwpt) Mapped() => MappedOn(out _, out _);

    /// <summary>16 pages mapped from the aperture start, tracking on; the IOAS and the mock domain.</summary>
    private static (IommufdRig Rig, uint Hwpt) MappedOn(out uint ioasId, out MockDomain domain)
    {
        var rig = new IommufdRig(MockDomainOptions.DirtyTracking, userFrames: 128);
        rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        ushort device = rig.NewDevice();
        rig.Ctx.DeviceBind(device, out uint dev).ShouldBe(Errno.Ok);
        rig.Utils.HwptAlloc(dev, ioas, HwptAllocFlags.DirtyTracking, out uint hwpt).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        rig.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        ulong iova = Start;
        rig.Utils.IoasMap(ioas, rig.Buffer(16 * Pg), 16 * Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Utils.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.Ok);
        ioasId = ioas;
        domain = rig.Driver.DomainOf(device)!;
        return (rig, hwpt);
    }

    [Theory]
    [InlineData(Start, 16 * Pg, Pg, Errno.Ok)]
    [InlineData(Start, 8 * Pg, 2 * Pg, Errno.Ok)]
    [InlineData(Start, (16 * Pg) - 0x800, Pg, Errno.EINVAL)]
    [InlineData(Start + 0x800, 4 * Pg, Pg, Errno.EINVAL)]
    [InlineData(Start + (2 * Pg), 4 * Pg, 3 * Pg, Errno.EINVAL)]
    [InlineData(Start, 2 * Pg, 3 * Pg, Errno.EINVAL)]
    [InlineData(Start, 8 * Pg, 0UL, Errno.EINVAL)]
    [InlineData(Start, 3 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start + Pg, 4 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start + Pg, 3 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start, 5 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start, 2 * Pg, Pg / 2, Errno.Ok)]
    [InlineData(Start, (2 * Pg) + 0x800, Pg / 2, Errno.EINVAL)]
    [InlineData(Start + 0x800, Pg + 0x800, Pg / 2, Errno.EINVAL)]
    [InlineData(Start, 32 * Pg, Pg, Errno.EINVAL)]
    [InlineData(Start - Pg, 2 * Pg, Pg, Errno.EINVAL)]
    [InlineData(Start + (32 * Pg), Pg, Pg, Errno.EINVAL)]
    [InlineData(ulong.MaxValue - 0xFFF, Pg, Pg, Errno.EINVAL)]
    [InlineData(ulong.MaxValue - 0xFFF, 2 * Pg, Pg, Errno.EOVERFLOW)]
    public void TheRange_IsCheckedAsLinuxDoes(ulong iova, ulong length, ulong pageSize, Errno expected)
    {
        var (rig, hwpt) = Mapped();
        rig.Ctx.HwptGetDirtyBitmap(hwpt, iova, length, pageSize, DirtyFlags.NoClear, out var bitmap).ShouldBe(expected);
        if (expected == Errno.Ok)
            bitmap!.Pages.ShouldBe(length / pageSize);
        else
            bitmap.ShouldBeNull();
        rig.CheckNoLeak();
    }

    private static ulong[] DirtyPages(IommufdRig rig, uint hwpt, ulong iova, ulong pages, DirtyFlags flags)
    {
        rig.Ctx.HwptGetDirtyBitmap(hwpt, iova, pages * Pg, Pg, flags, out var bitmap).ShouldBe(Errno.Ok);
        return [.. Enumerable.Range(0, (int)pages).Select(p => (ulong)p).Where(p => bitmap!.IsSet(iova + (p * Pg)))];
    }

    [Fact]
    public void A_bitmap_page_smaller_than_the_io_page_is_set_for_every_byte_the_dirty_page_covers()
    {
        // page_size 1 is a power of two: one bit per byte, so the read must reach the range's last byte.
        var (rig, hwpt) = MappedOn(out _, out var domain);
        domain.MarkDirty(Start + (15 * Pg)).ShouldBeTrue();
        rig.Ctx.HwptGetDirtyBitmap(hwpt, Start + (14 * Pg), 2 * Pg, 1, DirtyFlags.None, out var bitmap).ShouldBe(Errno.Ok);
        bitmap!.Pages.ShouldBe(2 * Pg);
        bitmap.Count().ShouldBe(Pg);
        bitmap.IsSet(Start + (15 * Pg)).ShouldBeTrue();
        bitmap.IsSet(Start + (16 * Pg) - 1).ShouldBeTrue("the last byte of the range");
        bitmap.IsSet(Start + (15 * Pg) - 1).ShouldBeFalse();
        DirtyPages(rig, hwpt, Start, 16, DirtyFlags.NoClear).ShouldBeEmpty("the read cleared the page");
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_page_size_that_is_no_power_of_two_is_taken_at_its_lowest_bit_when_the_range_passes_its_mask()
    {
        // iommufd_check_iova_range masks iova and iova + length with page_size - 1 and nothing else;
        // iova_bitmap_alloc takes __ffs(page_size) as the bit granule: 0x3000 is one bit per 4K.
        var (rig, hwpt) = MappedOn(out _, out var domain);
        domain.MarkDirty(Start + (5 * Pg)).ShouldBeTrue();
        domain.MarkDirty(Start + (9 * Pg)).ShouldBeTrue();
        ulong user = rig.Buffer(Pg);
        rig.Utils.HwptGetDirtyBitmap(hwpt, Start, 8 * Pg, 3 * Pg, user).ShouldBe(Errno.Ok);
        var bytes = new byte[2];
        rig.Mm.CopyFromUser(user, bytes).ShouldBe(Errno.Ok);
        bytes.ShouldBe(new byte[] { 1 << 5, 0 }, "bit 5 is page 5; page 9 is outside the range");
        DirtyPages(rig, hwpt, Start, 16, DirtyFlags.NoClear).ShouldBe([9UL], "page 5 was cleared, page 9 was not read");
        rig.Ctx.HwptGetDirtyBitmap(hwpt, Start, 8 * Pg, 3 * Pg, DirtyFlags.NoClear, out var bitmap).ShouldBe(Errno.Ok);
        bitmap!.PageLg2.ShouldBe(12);
        bitmap.Pages.ShouldBe(8UL);
        rig.CheckNoLeak();
    }

    [Fact]
    public void Enabling_tracking_again_starts_from_a_clean_snapshot_of_every_area()
    {
        var (rig, hwpt) = MappedOn(out uint ioas, out var domain);
        // A one-page area: the clear's window is exactly that page.
        ulong single = Start + (32 * Pg);
        rig.Utils.IoasMap(ioas, rig.Buffer(Pg), Pg, ref single).ShouldBe(Errno.Ok);
        domain.MarkDirty(Start + (3 * Pg)).ShouldBeTrue();
        domain.MarkDirty(single).ShouldBeTrue();
        rig.Utils.HwptSetDirtyTracking(hwpt, false).ShouldBe(Errno.Ok);
        DirtyPages(rig, hwpt, Start, 16, DirtyFlags.NoClear).ShouldBe([3UL], "turning tracking off keeps what was dirtied");
        rig.Utils.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.Ok);
        DirtyPages(rig, hwpt, Start, 16, DirtyFlags.NoClear).ShouldBeEmpty();
        DirtyPages(rig, hwpt, single, 1, DirtyFlags.NoClear).ShouldBeEmpty();
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_read_over_two_areas_reports_and_clears_both_from_a_start_off_the_bitmap_word()
    {
        var (rig, hwpt) = MappedOn(out uint ioas, out var domain);
        ulong second = Start + (16 * Pg);
        rig.Utils.IoasMap(ioas, rig.Buffer(64 * Pg), 64 * Pg, ref second).ShouldBe(Errno.Ok);
        foreach (ulong page in new ulong[] { 0, 1, 15, 16, 65, 79 })
            domain.MarkDirty(Start + (page * Pg)).ShouldBeTrue();
        // Bit 0 of the user bitmap is page 1: page 65 is bit 64, the first of the second word.
        ulong user = rig.Buffer(Pg);
        rig.Utils.HwptGetDirtyBitmap(hwpt, Start + Pg, 79 * Pg, Pg, user).ShouldBe(Errno.Ok);
        var bytes = new byte[16];
        rig.Mm.CopyFromUser(user, bytes).ShouldBe(Errno.Ok);
        int[] bits = [.. Enumerable.Range(0, 128).Where(i => (bytes[i / 8] & (1 << (i % 8))) != 0)];
        bits.ShouldBe([0, 14, 15, 64, 78]);
        DirtyPages(rig, hwpt, Start, 80, DirtyFlags.NoClear).ShouldBe([0UL], "page 0 was outside the range");
        rig.Utils.HwptGetDirtyBitmap(hwpt, Start, 81 * Pg, Pg, user).ShouldBe(Errno.EINVAL, "past the second area");
        rig.CheckNoLeak();
    }
}
