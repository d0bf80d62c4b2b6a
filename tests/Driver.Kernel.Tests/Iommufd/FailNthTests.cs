using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// Linux's iommufd_fail_nth: each body first runs with no injection and must succeed; then for
/// n = 1, 2, ... the n-th allocation site it reaches (object, area, reserved node, pin, page,
/// table frame) fails, until a run reaches no n-th site. A step that fails must return ENOMEM
/// with the state exactly as before it; at the end nothing is left pinned, mapped or allocated.
/// </summary>
public class FailNthTests(ITestOutputHelper output)
{
    private const ulong Pg = 4096;
    private const int Cap = 2000;

    /// <summary>Runs one body's steps; a failing step ends the body.</summary>
    internal sealed class Steps(IommufdRig rig)
    {
        public bool Failed { get; private set; }

        public bool Run(Func<Errno> step)
        {
            if (Failed)
                return false;
            string before = State(rig);
            var err = step();
            if (err == Errno.Ok)
                return true;
            Failed = true;
            rig.FailNth.Fired.ShouldBeTrue($"a step failed with {err} without an injected failure");
            err.ShouldBe(Errno.ENOMEM);
            State(rig).ShouldBe(before, "a failed step leaves everything as it was");
            return false;
        }
    }

    /// <summary>Objects with their users, each IOAS's areas and domains, the pins and the PTEs of every live mock domain.</summary>
    internal static string State(IommufdRig rig)
    {
        var parts = new List<string> { $"pins {rig.Pages.TotalPins}" };
        foreach (var obj in rig.Ctx.Objects.Objects)
        {
            parts.Add($"{obj.Id}:{obj.Type}:{obj.Users}:{obj.Finalized}");
            if (obj is IommufdIoas ioas)
            {
                parts.Add(string.Join(",", ioas.Iopt.Areas.Nodes.Select(n => $"{n.Start:x}-{n.Last:x}")));
                parts.Add($"domains {ioas.Iopt.Domains.Count} reserved {ioas.Iopt.Reserved.Count} allowed {ioas.Iopt.Allowed.Count}");
            }
            if (obj is IommufdDevice dev)
                parts.Add($"attached {dev.Hwpt?.Id}");
        }
        foreach (var domain in rig.Driver.LiveDomains)
            parts.Add($"ptes {domain.Table.Dump().Count()} dirty {domain.DirtyTracking}");
        return string.Join(" | ", parts);
    }

    private void RunNth(Func<IommufdRig> setup, Action<IommufdRig, Steps> body)
    {
        var clean = setup();
        var first = new Steps(clean);
        body(clean, first);
        first.Failed.ShouldBeFalse("the body must succeed without injection");
        clean.CheckNoLeak();
        int n = 1;
        for (; n <= Cap; n++)
        {
            var rig = setup();
            var steps = new Steps(rig);
            rig.FailNth.Arm(n);
            body(rig, steps);
            bool fired = rig.FailNth.Fired;
            rig.FailNth.Disarm();
            rig.CheckNoLeak();
            if (!fired)
                break;
        }
        n.ShouldBeLessThanOrEqualTo(Cap);
        output.WriteLine($"sites reached: {n - 1}");
        (n - 1).ShouldBeGreaterThan(0, "the body reaches at least one allocation site");
    }

    private static IommufdRig Rig(MockDomainOptions? options = null) => new(options, userFrames: 1024);

    private static (IommufdRig Rig, ulong Buffer) WithBuffer(MockDomainOptions? options = null)
    {
        var rig = Rig(options);
        return (rig, rig.Buffer(16 * Pg));
    }

    private static ulong Base => MockDomainOptions.DefaultApertureStart;

    [Fact]
    public void Basic()
    {
        ulong buffer = 0;
        RunNth(() => { var (r, b) = WithBuffer(); buffer = b; return r; }, (rig, s) =>
        {
            uint ioas = 0;
            ulong iova = Base;
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Utils.IoasAllowIovas(ioas, 0, 0))
                && s.Run(() => rig.Utils.IoasUnmap(ioas, Base, 8 * Pg))
                && s.Run(() => rig.Utils.Destroy(ioas));
        });
    }

    [Fact]
    public void Map_domain()
    {
        ulong buffer = 0;
        RunNth(() => { var (r, b) = WithBuffer(); buffer = b; return r; }, (rig, s) =>
        {
            uint ioas = 0, dev = 0, pt = 0;
            ushort device = rig.NewDevice();
            ulong iova = Base;
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Ctx.DeviceBind(device, out dev))
                && s.Run(() => { pt = ioas; return rig.Ctx.DeviceAttach(dev, ref pt); })
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Utils.IoasUnmap(ioas, Base, 8 * Pg))
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova));
        });
    }

    [Fact]
    public void Map_two_domains()
    {
        ulong buffer = 0;
        RunNth(() => { var (r, b) = WithBuffer(); buffer = b; return r; }, (rig, s) =>
        {
            uint ioas = 0, dev1 = 0, dev2 = 0, pt = 0, hwpt = 0;
            ushort device1 = rig.NewDevice();
            ushort device2 = rig.NewDevice();
            ulong iova = Base;
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Ctx.DeviceBind(device1, out dev1))
                && s.Run(() => rig.Ctx.DeviceBind(device2, out dev2))
                && s.Run(() => { pt = ioas; return rig.Ctx.DeviceAttach(dev1, ref pt); })
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Utils.HwptAlloc(dev2, ioas, HwptAllocFlags.None, out hwpt))
                && s.Run(() => { pt = hwpt; return rig.Ctx.DeviceAttach(dev2, ref pt); })
                && s.Run(() => { iova = Base + (1UL << 20); return rig.Utils.IoasMap(ioas, buffer, 16 * Pg, ref iova); })
                && s.Run(() => rig.Utils.IoasUnmap(ioas, 0, ulong.MaxValue));
        });
    }

    [Fact]
    public void Copy()
    {
        ulong buffer = 0;
        RunNth(() => { var (r, b) = WithBuffer(); buffer = b; return r; }, (rig, s) =>
        {
            uint src = 0, dst = 0, dev = 0, pt = 0;
            ushort device = rig.NewDevice();
            ulong iova = Base, dstIova = Base;
            _ = s.Run(() => rig.Utils.IoasAlloc(out src))
                && s.Run(() => rig.Utils.IoasAlloc(out dst))
                && s.Run(() => rig.Ctx.DeviceBind(device, out dev))
                && s.Run(() => { pt = dst; return rig.Ctx.DeviceAttach(dev, ref pt); })
                && s.Run(() => rig.Utils.IoasMap(src, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Utils.IoasCopy(dst, src, Base, 8 * Pg, ref dstIova));
        });
    }

    [Fact]
    public void Access_rw()
    {
        ulong buffer = 0;
        RunNth(() => { var (r, b) = WithBuffer(); buffer = b; return r; }, (rig, s) =>
        {
            uint ioas = 0;
            IommufdAccess? access = null;
            var ops = new TestAccessOps(rig.Ctx);
            ulong iova = Base;
            var data = new byte[3 * Pg];
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Ctx.AccessCreate(ops, out access))
                && s.Run(() => rig.Ctx.AccessAttach(access!, ioas))
                && s.Run(() => rig.Ctx.AccessRw(access!, Base + 10, data, write: true))
                && s.Run(() => rig.Ctx.AccessRw(access!, Base + 10, data, write: false))
                && s.Run(() => rig.Ctx.AccessDestroy(access!));
        });
    }

    [Fact]
    public void Access_pin_domain()
    {
        ulong buffer = 0;
        RunNth(() => { var (r, b) = WithBuffer(); buffer = b; return r; }, (rig, s) =>
        {
            uint ioas = 0, dev = 0, pt = 0;
            ushort device = rig.NewDevice();
            IommufdAccess? access = null;
            var ops = new TestAccessOps(rig.Ctx);
            ulong iova = Base;
            var pfns = new ulong[4];
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Ctx.AccessCreate(ops, out access))
                && s.Run(() => rig.Ctx.AccessAttach(access!, ioas))
                && s.Run(() => rig.Ctx.AccessPin(access!, Base, 4 * Pg, write: true, pfns))
                && s.Run(() => { ops.Pins.Add((Base, 4 * Pg)); return Errno.Ok; })
                && s.Run(() => rig.Ctx.DeviceBind(device, out dev))
                && s.Run(() => { pt = ioas; return rig.Ctx.DeviceAttach(dev, ref pt); })
                && s.Run(() => rig.Utils.IoasUnmap(ioas, Base, 8 * Pg));
        });
    }

    [Fact]
    public void Device()
    {
        RunNth(() => Rig(), (rig, s) =>
        {
            uint ioas = 0, ioas2 = 0, dev = 0, pt = 0, hwpt = 0;
            ushort device = rig.NewDevice();
            uint len = 0;
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Utils.IoasAlloc(out ioas2))
                && s.Run(() => rig.Ctx.DeviceBind(device, out dev))
                && s.Run(() => rig.Utils.GetHwInfo(dev, 0, ref len, out _, out _))
                && s.Run(() => rig.Utils.HwptAlloc(dev, ioas, HwptAllocFlags.None, out hwpt))
                && s.Run(() => { pt = hwpt; return rig.Ctx.DeviceAttach(dev, ref pt); })
                && s.Run(() => { pt = ioas2; return rig.Ctx.DeviceReplace(dev, ref pt); })
                && s.Run(() => { pt = hwpt; return rig.Ctx.DeviceReplace(dev, ref pt); })
                && s.Run(() => rig.Ctx.DeviceDetach(dev));
        });
    }

    [Fact]
    public void Dirty_tracking()
    {
        ulong buffer = 0;
        ulong bitmap = 0;
        RunNth(() =>
        {
            var (r, b) = WithBuffer(MockDomainOptions.DirtyTracking);
            buffer = b;
            bitmap = r.Buffer(Pg);
            return r;
        }, (rig, s) =>
        {
            uint ioas = 0, dev = 0, pt = 0, hwpt = 0;
            ushort device = rig.NewDevice();
            ulong iova = Base;
            _ = s.Run(() => rig.Utils.IoasAlloc(out ioas))
                && s.Run(() => rig.Ctx.DeviceBind(device, out dev))
                && s.Run(() => rig.Utils.HwptAlloc(dev, ioas, HwptAllocFlags.DirtyTracking, out hwpt))
                && s.Run(() => { pt = hwpt; return rig.Ctx.DeviceAttach(dev, ref pt); })
                && s.Run(() => rig.Utils.IoasMap(ioas, buffer, 8 * Pg, ref iova))
                && s.Run(() => rig.Utils.HwptSetDirtyTracking(hwpt, true))
                && s.Run(() => rig.Utils.HwptGetDirtyBitmap(hwpt, Base, 8 * Pg, Pg, bitmap));
        });
    }
}
