using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// A HWPT allocated without IOMMU_HWPT_ALLOC_DIRTY_TRACKING has a domain without dirty ops (the
/// mock and amd_iommu set them only for that flag): SET_DIRTY_TRACKING is EOPNOTSUPP
/// (iopt_set_dirty_tracking), and GET_DIRTY_BITMAP is EOPNOTSUPP only once iommufd_check_iova_range
/// has passed, before any bitmap is made or any user memory touched.
/// </summary>
public class DirtyOpsAbsentTests
{
    private const ulong Pg = 4096;
    private const ulong Start = MockDomainOptions.DefaultApertureStart;

    // A dirty-capable mock, a device attached to a HWPT allocated without the dirty flag, 4 pages mapped.
    private static (IommufdRig Rig, uint Hwpt, ushort Device) PlainHwpt()
    {
        var rig = new IommufdRig(MockDomainOptions.DirtyTracking, userFrames: 64);
        rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        ushort device = rig.NewDevice();
        rig.Ctx.DeviceBind(device, out uint dev).ShouldBe(Errno.Ok);
        rig.Utils.HwptAlloc(dev, ioas, HwptAllocFlags.None, out uint hwpt).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        rig.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        ulong iova = Start;
        rig.Utils.IoasMap(ioas, rig.Buffer(4 * Pg), 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        return (rig, hwpt, device);
    }

    [Fact]
    public void Set_dirty_tracking_without_dirty_ops_is_EOPNOTSUPP_and_leaves_the_domain_untracked()
    {
        var (rig, hwpt, device) = PlainHwpt();
        rig.Utils.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.EOPNOTSUPP);
        rig.Utils.HwptSetDirtyTracking(hwpt, false).ShouldBe(Errno.EOPNOTSUPP);
        rig.Driver.DomainOf(device)!.DirtyTracking.ShouldBeFalse();
        rig.CheckNoLeak();
    }

    [Theory]
    [InlineData(ulong.MaxValue - 0xFFF, 2 * Pg, Pg, Errno.EOVERFLOW)]
    [InlineData(Start + 0x800, Pg, Pg, Errno.EINVAL)]
    [InlineData(Start, 4 * Pg, 0UL, Errno.EINVAL)]
    [InlineData(Start + Pg, 2 * Pg, 2 * Pg, Errno.EINVAL)]
    [InlineData(Start, 4 * Pg, Pg, Errno.EOPNOTSUPP)]
    [InlineData(Start, 64 * Pg, Pg, Errno.EOPNOTSUPP)]
    public void Get_dirty_bitmap_checks_the_range_before_it_refuses_a_domain_without_dirty_ops(ulong iova, ulong length, ulong pageSize, Errno expected)
    {
        // 64 pages run past the only area: a gap is found in the walk, which never starts without dirty ops.
        var (rig, hwpt, _) = PlainHwpt();
        rig.Ctx.HwptGetDirtyBitmap(hwpt, iova, length, pageSize, DirtyFlags.None, out var bitmap).ShouldBe(expected);
        bitmap.ShouldBeNull();
        rig.CheckNoLeak();
    }

    [Fact]
    public void Get_dirty_bitmap_without_dirty_ops_is_EOPNOTSUPP_before_the_user_bitmap_is_touched()
    {
        // The bitmap pointer is unmapped user memory: Linux pins it only after the dirty ops check.
        var (rig, hwpt, _) = PlainHwpt();
        rig.Utils.HwptGetDirtyBitmap(hwpt, Start, 4 * Pg, Pg, 0x10).ShouldBe(Errno.EOPNOTSUPP);
        rig.CheckNoLeak();
    }
}
