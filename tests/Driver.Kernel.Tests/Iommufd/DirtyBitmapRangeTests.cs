using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// GET_DIRTY_BITMAP's range checks in Linux's order (iommufd_check_iova_range): EOVERFLOW only
/// when iova + length - 1 wraps; EINVAL for an end or start off the table's or the bitmap's page
/// size, a page size that is no power of two, or a range with a gap.
/// </summary>
public class DirtyBitmapRangeTests
{
    private const ulong Pg = 4096;
    private const ulong Start = MockDomainOptions.DefaultApertureStart;

    private static (IommufdRig Rig, uint Hwpt) Mapped()
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
        return (rig, hwpt);
    }

    [Theory]
    [InlineData(Start, 16 * Pg, Pg, Errno.Ok)]
    [InlineData(Start, 8 * Pg, 2 * Pg, Errno.Ok)]
    [InlineData(Start, (16 * Pg) - 0x800, Pg, Errno.EINVAL)]
    [InlineData(Start + 0x800, 4 * Pg, Pg, Errno.EINVAL)]
    [InlineData(Start, 8 * Pg, 3 * Pg, Errno.EINVAL)]
    [InlineData(Start, 8 * Pg, 0UL, Errno.EINVAL)]
    [InlineData(Start, 3 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start + Pg, 4 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start, 32 * Pg, Pg, Errno.EINVAL)]
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
}
