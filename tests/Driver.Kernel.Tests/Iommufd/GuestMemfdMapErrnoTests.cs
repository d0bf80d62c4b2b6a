using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Iommufd.GuestMemfdRig;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The errno rules of the proposed IOAS_MAP_GUEST_MEMFD, checked in IOAS_MAP_FILE's order; a refused call leaves nothing behind.</summary>
public sealed class GuestMemfdMapErrnoTests
{
    private const IoasMapGuestMemfdFlags Rw = IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable;
    private const IoasMapGuestMemfdFlags Fixed = Rw | IoasMapGuestMemfdFlags.FixedIova;

    private static uint Cmd => IommufdFile.Command(Uapi.IommufdProposedCmd.IoasMapGuestMemfd);

    private static byte[] Struct(GuestMemfdRig g, IoasMapGuestMemfdFlags flags = Fixed, ulong offset = 0, ulong length = M2, ulong iova = Iova,
        uint? ioas = null, int? fd = null, int size = Uapi.IommuIoasMapGuestMemfd.Bytes, int room = Uapi.IommuIoasMapGuestMemfd.Bytes)
    {
        var bytes = new byte[room];
        default(Uapi.IommuIoasMapGuestMemfd).WithSize((uint)size).WithFlags((uint)flags).WithIoasId(ioas ?? g.Ioas)
            .WithFd((uint)(fd ?? g.Fd)).WithOffset(offset).WithLength(length).WithIova(iova).CopyTo(bytes);
        return bytes;
    }

    private static Errno Call(GuestMemfdRig g, byte[] bytes) => g.Rig.File.Ioctl(Cmd, bytes);

    [Fact]
    public void TheCommandNumber_LiesOutsideLinuxsRange_AndTheStructIs48Bytes()
    {
        ((uint)Uapi.IommufdProposedCmd.IoasMapGuestMemfd).ShouldBe(0xC0u);
        Enum.GetValues<Uapi.IommufdCmd>().ShouldNotContain(c => (uint)c == 0xC0u);
        Uapi.IommuIoasMapGuestMemfd.Bytes.ShouldBe(48);
        Cmd.ShouldBe(0x3BC0u);
    }

    [Fact]
    public void GenericRules_Size_TrailingBytes_FlagsAndReserved()
    {
        var g = new GuestMemfdRig();
        Call(g, Struct(g, size: 36)).ShouldBe(Errno.EINVAL);
        var tail = Struct(g, size: 56, room: 56);
        tail[50] = 1;
        Call(g, tail).ShouldBe(Errno.E2BIG);
        Call(g, Struct(g, size: 40)).ShouldBe(Errno.Ok);
        Call(g, Struct(g, Fixed | (IoasMapGuestMemfdFlags)0x20, iova: Iova + M2)).ShouldBe(Errno.EOPNOTSUPP);
        var reserved = Struct(g, iova: Iova + M2);
        reserved[44] = 1;
        Call(g, reserved).ShouldBe(Errno.EOPNOTSUPP);
    }

    [Fact]
    public void ArgumentRules_InOrder()
    {
        var g = new GuestMemfdRig();
        Call(g, Struct(g, iova: ulong.MaxValue)).ShouldBe(Errno.EOVERFLOW);
        Call(g, Struct(g, length: ulong.MaxValue)).ShouldBe(Errno.EOVERFLOW);
        Call(g, Struct(g, offset: ulong.MaxValue - K4 + 1, length: 2 * K4)).ShouldBe(Errno.EOVERFLOW);
        Call(g, Struct(g, IoasMapGuestMemfdFlags.FixedIova)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, ioas: 999)).ShouldBe(Errno.ENOENT);
        Call(g, Struct(g, ioas: g.SharedHwpt)).ShouldBe(Errno.ENOENT);
        Call(g, Struct(g, fd: 77)).ShouldBe(Errno.EBADF);
        int memfd = g.Rig.Fds.Install(g.Rig.NewMemFd(M2));
        Call(g, Struct(g, fd: memfd)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, length: 0)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, offset: 0x800)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, length: K4 + 1)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, offset: M2, length: 2 * M2)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, offset: 4 * M2, length: K4)).ShouldBe(Errno.EINVAL);
        g.Rig.Ctx.GetIoas(g.Ioas, out var ioas).ShouldBe(Errno.Ok);
        ioas!.Iopt.Areas.IsEmpty.ShouldBeTrue();
    }

    [Fact]
    public void IovaRules_AsIoasMap()
    {
        var g = new GuestMemfdRig();
        Call(g, Struct(g, iova: Iova + 0x800)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, iova: 0x1000)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, iova: ulong.MaxValue - K4 + 1, length: 2 * K4)).ShouldBe(Errno.EOVERFLOW);
        Call(g, Struct(g)).ShouldBe(Errno.Ok);
        Call(g, Struct(g, offset: M2, iova: Iova + M2 - K4)).ShouldBe(Errno.EEXIST);
        var auto = Struct(g, Rw, offset: M2);
        Call(g, auto).ShouldBe(Errno.Ok);
        ulong chosen = Uapi.IommuIoasMapGuestMemfd.FromBytes(auto).Iova;
        chosen.ShouldNotBe(0UL);
        (chosen % M2).ShouldBe(0UL);
        At(g.Private, chosen - Iova).ShouldBe((g.Pa(M2), M2));
    }

    [Fact]
    public void RefreshRules()
    {
        var g = new GuestMemfdRig();
        const IoasMapGuestMemfdFlags Refresh = Fixed | IoasMapGuestMemfdFlags.Refresh;
        Call(g, Struct(g, Rw | IoasMapGuestMemfdFlags.Refresh)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, Refresh)).ShouldBe(Errno.ENOENT);
        Call(g, Struct(g, length: M2)).ShouldBe(Errno.Ok);
        Call(g, Struct(g, Refresh, iova: ulong.MaxValue - K4 + 1, length: 2 * K4)).ShouldBe(Errno.EOVERFLOW);
        Call(g, Struct(g, Refresh, length: 2 * M2)).ShouldBe(Errno.ENOENT);
        Call(g, Struct(g, Refresh, offset: K4, length: K4)).ShouldBe(Errno.EINVAL);
        int otherFd = g.OtherFile(M2);
        Call(g, Struct(g, Refresh, fd: otherFd, length: K4)).ShouldBe(Errno.EINVAL);
        Call(g, Struct(g, Refresh, offset: K4, length: K4, iova: Iova + K4)).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void AnAllocationFailure_IsEnomem_AndLeavesNothing()
    {
        var g = new GuestMemfdRig();
        g.Rig.FailNth.Arm(1);
        Call(g, Struct(g)).ShouldBe(Errno.ENOMEM);
        g.Rig.FailNth.Disarm();
        g.Rig.Ctx.GetIoas(g.Ioas, out var ioas).ShouldBe(Errno.Ok);
        ioas!.Iopt.Areas.IsEmpty.ShouldBeTrue();
        At(g.Private, 0).ShouldBe((0UL, 0UL));
        Call(g, Struct(g)).ShouldBe(Errno.Ok);
    }
}
