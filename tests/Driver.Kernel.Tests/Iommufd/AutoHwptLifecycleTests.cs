using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>An automatic HWPT lives as long as a device is attached through it (iommufd_hw_pagetable's auto domain).</summary>
public sealed class AutoHwptLifecycleTests
{
    [Fact]
    public void An_automatic_hwpt_freed_with_its_last_device_leaves_the_ioas_and_a_new_attach_makes_a_fresh_one()
    {
        var rig = new IommufdRig();
        rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        var (dev, first, _) = rig.MockDomain(ioas);
        rig.Ctx.DeviceDetach(dev).ShouldBe(Errno.Ok);
        rig.Ctx.Objects.Get(first, null, out _).ShouldBe(Errno.ENOENT, "the automatic HWPT went with its last device");
        rig.Ctx.GetIoas(ioas, out var io).ShouldBe(Errno.Ok);
        io!.AutoHwpts.ShouldBeEmpty();
        uint pt = ioas;
        rig.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        // A fresh HWPT (its id may be the freed one's: ids are handed out lowest first).
        rig.Ctx.Objects.Get<IommufdHwptPaging>(pt, IommufdObjectType.HwptPaging, out var fresh).ShouldBe(Errno.Ok);
        io.AutoHwpts.ShouldBe([fresh!]);
        rig.Ctx.Destroy(ioas).ShouldBe(Errno.EBUSY);
    }
}
