using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// Linux's FIXTURE(iommufd_dirty_tracking): a dirty-capable mock domain over buffers of nine
/// sizes; the device's writes are the mock's dirty bits on every other page.
/// </summary>
public class DirtyTrackingFixture
{
    private const ulong Pg = 4096;

    public static TheoryData<ulong> Sizes() => new() { 8 * Pg, 16 * Pg, 128UL << 10, 256UL << 10, 640UL << 10, 2UL << 20, 4UL << 20, 16UL << 20, 32UL << 20 };

    private sealed class Setup
    {
        public Setup(ulong size)
        {
            Rig = new IommufdRig(MockDomainOptions.DirtyTracking, userFrames: (size / Pg) + 64);
            Rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
            Ioas = ioas;
            Device = Rig.NewDevice();
            Rig.Ctx.DeviceBind(Device, out uint dev).ShouldBe(Errno.Ok);
            DevId = dev;
            Buffer = Rig.Buffer(size);
            Size = size;
            Bitmap = Rig.Buffer(Math.Max(8, size / Pg / 8));
        }

        public IommufdRig Rig { get; }

        public uint Ioas { get; }

        public ushort Device { get; }

        public uint DevId { get; }

        public ulong Buffer { get; }

        public ulong Size { get; }

        public ulong Bitmap { get; }

        public ulong Iova { get; private set; }

        public uint AttachDirtyHwpt()
        {
            Rig.Utils.HwptAlloc(DevId, Ioas, HwptAllocFlags.DirtyTracking, out uint hwpt).ShouldBe(Errno.Ok);
            uint pt = hwpt;
            Rig.Ctx.DeviceAttach(DevId, ref pt).ShouldBe(Errno.Ok);
            ulong iova = MockDomainOptions.DefaultApertureStart;
            Rig.Utils.IoasMap(Ioas, Buffer, Size, ref iova).ShouldBe(Errno.Ok);
            Iova = iova;
            return hwpt;
        }

        public byte[] ReadBitmap()
        {
            var bytes = new byte[Math.Max(1, Size / Pg / 8)];
            Rig.Mm.CopyFromUser(Bitmap, bytes).ShouldBe(Errno.Ok);
            return bytes;
        }

        public void ClearBitmap() => Rig.Mm.CopyToUser(Bitmap, new byte[Math.Max(1, Size / Pg / 8)]).ShouldBe(Errno.Ok);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Enforce_dirty(ulong size)
    {
        var s = new Setup(size);
        s.Rig.Utils.HwptAlloc(s.DevId, s.Ioas, HwptAllocFlags.DirtyTracking, out uint hwpt).ShouldBe(Errno.Ok);
        ushort noDirty = s.Rig.NewDevice(MockDeviceFlags.NoDirty);
        s.Rig.Ctx.DeviceBind(noDirty, out uint other).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        s.Rig.Ctx.DeviceAttach(other, ref pt).ShouldBe(Errno.EINVAL, "the device cannot take part in dirty tracking");
        s.Rig.Utils.HwptAlloc(other, s.Ioas, HwptAllocFlags.DirtyTracking, out _).ShouldBe(Errno.EOPNOTSUPP);
        s.Rig.CheckNoLeak();
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Set_dirty_tracking(ulong size)
    {
        var s = new Setup(size);
        uint hwpt = s.AttachDirtyHwpt();
        s.Rig.Utils.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.Ok);
        s.Rig.Driver.DomainOf(s.Device)!.DirtyTracking.ShouldBeTrue();
        s.Rig.Utils.HwptSetDirtyTracking(hwpt, false).ShouldBe(Errno.Ok);
        s.Rig.Driver.DomainOf(s.Device)!.DirtyTracking.ShouldBeFalse();
        s.Rig.Utils.HwptSetDirtyTracking(hwpt + 100, true).ShouldBe(Errno.ENOENT);
        s.Rig.Utils.HwptAlloc(s.DevId, s.Ioas, HwptAllocFlags.None, out uint plain).ShouldBe(Errno.Ok);
        s.Rig.Utils.HwptSetDirtyTracking(plain, true).ShouldBe(Errno.EOPNOTSUPP, "allocated without dirty tracking: no dirty ops");
        s.Rig.CheckNoLeak();
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Device_dirty_capable(ulong size)
    {
        var s = new Setup(size);
        uint len = 0;
        s.Rig.Utils.GetHwInfo(s.DevId, 0, ref len, out _, out ulong caps).ShouldBe(Errno.Ok);
        (caps & (ulong)Driver.Hw.Iommufd.HwCapabilities.DirtyTracking).ShouldNotBe(0UL);
        ushort noDirty = s.Rig.NewDevice(MockDeviceFlags.NoDirty);
        s.Rig.Ctx.DeviceBind(noDirty, out uint other).ShouldBe(Errno.Ok);
        len = 0;
        s.Rig.Utils.GetHwInfo(other, 0, ref len, out _, out caps).ShouldBe(Errno.Ok);
        (caps & (ulong)Driver.Hw.Iommufd.HwCapabilities.DirtyTracking).ShouldBe(0UL);
    }

    private static void DirtyEveryOther(Setup s)
    {
        var domain = s.Rig.Driver.DomainOf(s.Device)!;
        for (ulong page = 0; page < s.Size / Pg; page += 2)
            domain.MarkDirty(s.Iova + (page * Pg)).ShouldBeTrue();
    }

    private static void CheckEveryOther(Setup s, bool expectSet)
    {
        var bits = s.ReadBitmap();
        for (ulong page = 0; page < s.Size / Pg; page++)
        {
            bool set = (bits[page / 8] & (1 << (int)(page % 8))) != 0;
            set.ShouldBe(expectSet && page % 2 == 0, $"page {page}");
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Get_dirty_bitmap(ulong size)
    {
        var s = new Setup(size);
        uint hwpt = s.AttachDirtyHwpt();
        s.Rig.Utils.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.Ok);
        DirtyEveryOther(s);
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size, Pg, s.Bitmap).ShouldBe(Errno.Ok);
        CheckEveryOther(s, expectSet: true);
        s.ClearBitmap();
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size, Pg, s.Bitmap).ShouldBe(Errno.Ok);
        CheckEveryOther(s, expectSet: false);
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova + 1, size, Pg, s.Bitmap).ShouldBe(Errno.EINVAL);
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size, 0, s.Bitmap).ShouldBe(Errno.EINVAL);
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size + Pg, Pg, s.Bitmap).ShouldBe(Errno.EINVAL, "a gap after the area");
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, ulong.MaxValue - Pg + 1, 2 * Pg, Pg, s.Bitmap).ShouldBe(Errno.EOVERFLOW);
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size, Pg, 0).ShouldBe(Errno.EFAULT);
        s.Rig.CheckNoLeak();
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Get_dirty_bitmap_no_clear(ulong size)
    {
        var s = new Setup(size);
        uint hwpt = s.AttachDirtyHwpt();
        s.Rig.Utils.HwptSetDirtyTracking(hwpt, true).ShouldBe(Errno.Ok);
        DirtyEveryOther(s);
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size, Pg, s.Bitmap, noClear: true).ShouldBe(Errno.Ok);
        CheckEveryOther(s, expectSet: true);
        s.ClearBitmap();
        s.Rig.Utils.HwptGetDirtyBitmap(hwpt, s.Iova, size, Pg, s.Bitmap).ShouldBe(Errno.Ok);
        CheckEveryOther(s, expectSet: true);
        s.Rig.CheckNoLeak();
    }
}
