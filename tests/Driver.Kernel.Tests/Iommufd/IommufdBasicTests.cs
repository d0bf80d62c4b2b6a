using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>Linux's FIXTURE(iommufd): the command checks that need no IOAS content.</summary>
public class IommufdBasicTests
{
    private readonly IommufdRig _rig = new();

    private IommufdUtils U => _rig.Utils;

    private Errno Raw(Uapi.IommufdCmd cmd, byte[] bytes) => _rig.File.Ioctl(IommufdFile.Command(cmd), bytes);

    [Fact]
    public void Simple_close()
    {
        U.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        ioas.ShouldBe(1u);
        _rig.CheckNoLeak();
    }

    [Fact]
    public void Cmd_fail()
    {
        U.Destroy(0).ShouldBe(Errno.ENOENT);
        // A missing argument cannot even hold the size word.
        _rig.File.Ioctl(IommufdFile.Command(Uapi.IommufdCmd.Destroy), []).ShouldBe(Errno.EFAULT);
        var cmd = new byte[Uapi.IommuDestroy.Bytes];
        default(Uapi.IommuDestroy).WithSize(Uapi.IommuDestroy.Bytes).CopyTo(cmd);
        _rig.File.Ioctl(IommufdFile.Command((Uapi.IommufdCmd)0x7F), cmd).ShouldBe(Errno.ENOTTY);
        _rig.File.Ioctl(0x1234, cmd).ShouldBe(Errno.ENOTTY);
        // Commands iommufd has but this kernel does not build are unknown too.
        _rig.File.Ioctl(IommufdFile.Command(Uapi.IommufdCmd.VfioIoas), cmd).ShouldBe(Errno.ENOTTY);
        _rig.File.Ioctl(IommufdFile.Command(Uapi.IommufdCmd.ViommuAlloc), cmd).ShouldBe(Errno.ENOTTY);
        // A size beyond the bytes given is a fault in the user copy.
        default(Uapi.IommuDestroy).WithSize(64).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.Destroy, cmd).ShouldBe(Errno.EFAULT);
    }

    public static TheoryData<Uapi.IommufdCmd, int> Commands() => new()
    {
        { Uapi.IommufdCmd.Destroy, Uapi.IommuDestroy.Bytes },
        { Uapi.IommufdCmd.IoasAlloc, Uapi.IommuIoasAlloc.Bytes },
        { Uapi.IommufdCmd.IoasIovaRanges, Uapi.IommuIoasIovaRanges.Bytes },
        { Uapi.IommufdCmd.IoasAllowIovas, Uapi.IommuIoasAllowIovas.Bytes },
        { Uapi.IommufdCmd.IoasMap, Uapi.IommuIoasMap.Bytes },
        { Uapi.IommufdCmd.IoasMapFile, Uapi.IommuIoasMapFile.Bytes },
        { Uapi.IommufdCmd.IoasCopy, Uapi.IommuIoasCopy.Bytes },
        { Uapi.IommufdCmd.IoasUnmap, Uapi.IommuIoasUnmap.Bytes },
        { Uapi.IommufdCmd.Option, Uapi.IommuOption.Bytes },
        { Uapi.IommufdCmd.HwptAlloc, Uapi.IommuHwptAlloc.Bytes },
        { Uapi.IommufdCmd.GetHwInfo, Uapi.IommuHwInfo.Bytes },
        { Uapi.IommufdCmd.HwptSetDirtyTracking, Uapi.IommuHwptSetDirtyTracking.Bytes },
        { Uapi.IommufdCmd.HwptGetDirtyBitmap, Uapi.IommuHwptGetDirtyBitmap.Bytes },
    };

    private static readonly Dictionary<Uapi.IommufdCmd, int> LinuxMinSizes = new()
    {
        [Uapi.IommufdCmd.Destroy] = 8,
        [Uapi.IommufdCmd.IoasAlloc] = 12,
        [Uapi.IommufdCmd.IoasIovaRanges] = 32,
        [Uapi.IommufdCmd.IoasAllowIovas] = 24,
        [Uapi.IommufdCmd.IoasMap] = 40,
        [Uapi.IommufdCmd.IoasMapFile] = 40,
        [Uapi.IommufdCmd.IoasCopy] = 40,
        [Uapi.IommufdCmd.IoasUnmap] = 24,
        [Uapi.IommufdCmd.Option] = 24,
        [Uapi.IommufdCmd.HwptAlloc] = 24,
        [Uapi.IommufdCmd.GetHwInfo] = 32,
        [Uapi.IommufdCmd.HwptSetDirtyTracking] = 16,
        [Uapi.IommufdCmd.HwptGetDirtyBitmap] = 48,
    };

    /// <summary>TEST_LENGTH: below the last mandatory field EINVAL; one unknown non-zero byte E2BIG; one zero byte as the exact size.</summary>
    [Theory]
    [MemberData(nameof(Commands))]
    public void Cmd_length(Uapi.IommufdCmd cmd, int size)
    {
        int min = LinuxMinSizes[cmd];
        var bytes = new byte[size + 1];
        bytes[size] = 0xFF;
        BitConverter.TryWriteBytes(bytes, (uint)(min - 1)).ShouldBeTrue();
        Raw(cmd, bytes).ShouldBe(Errno.EINVAL);
        BitConverter.TryWriteBytes(bytes, (uint)(size + 1));
        Raw(cmd, bytes).ShouldBe(Errno.E2BIG);
        BitConverter.TryWriteBytes(bytes, (uint)size);
        var exact = Raw(cmd, bytes);
        var again = new byte[size + 1];
        BitConverter.TryWriteBytes(again, (uint)(size + 1));
        Raw(cmd, again).ShouldBe(exact);
        // The minimum itself is accepted (whatever the command then says, it is not EINVAL for size).
        var shortest = new byte[min];
        BitConverter.TryWriteBytes(shortest, (uint)min);
        Raw(cmd, shortest).ShouldNotBe(Errno.E2BIG);
    }

    [Fact]
    public void Cmd_ex_fail()
    {
        U.IoasAlloc(out uint ioas);
        var cmd = new byte[Uapi.IommuIoasAlloc.Bytes + 8];
        default(Uapi.IommuIoasAlloc).WithSize((uint)cmd.Length).WithFlags(1).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.IoasAlloc, cmd).ShouldBe(Errno.EOPNOTSUPP);
        // A longer struct whose extra bytes are zero behaves as the known one.
        default(Uapi.IommuIoasAlloc).WithSize((uint)cmd.Length).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.IoasAlloc, cmd).ShouldBe(Errno.Ok);
        Uapi.IommuIoasAlloc.FromBytes(cmd.AsSpan(0, Uapi.IommuIoasAlloc.Bytes)).OutIoasId.ShouldBe(ioas + 1);
        U.Destroy(ioas).ShouldBe(Errno.Ok);
        U.Destroy(ioas).ShouldBe(Errno.ENOENT);
    }

    [Fact]
    public void Global_options()
    {
        ulong value = 0;
        U.Option(Uapi.IommufdOption.RlimitMode, Uapi.IommufdOptionOp.Get, 0, ref value).ShouldBe(Errno.Ok);
        value.ShouldBe(0UL);
        value = 1;
        U.Option(Uapi.IommufdOption.RlimitMode, Uapi.IommufdOptionOp.Set, 0, ref value).ShouldBe(Errno.Ok);
        value = 0;
        U.Option(Uapi.IommufdOption.RlimitMode, Uapi.IommufdOptionOp.Get, 0, ref value).ShouldBe(Errno.Ok);
        value.ShouldBe(1UL);
        value = 2;
        U.Option(Uapi.IommufdOption.RlimitMode, Uapi.IommufdOptionOp.Set, 0, ref value).ShouldBe(Errno.EINVAL);
        U.Option(Uapi.IommufdOption.RlimitMode, Uapi.IommufdOptionOp.Get, 1, ref value).ShouldBe(Errno.EOPNOTSUPP);
        U.Option((Uapi.IommufdOption)7, Uapi.IommufdOptionOp.Get, 0, ref value).ShouldBe(Errno.EOPNOTSUPP);
        U.Option(Uapi.IommufdOption.RlimitMode, (Uapi.IommufdOptionOp)3, 0, ref value).ShouldBe(Errno.EOPNOTSUPP);
        U.IoasAlloc(out _);
        value = 0;
        U.Option(Uapi.IommufdOption.RlimitMode, Uapi.IommufdOptionOp.Set, 0, ref value).ShouldBe(Errno.EBUSY);
        // Reserved bytes set are refused before anything else.
        var cmd = new byte[Uapi.IommuOption.Bytes];
        default(Uapi.IommuOption).WithSize(Uapi.IommuOption.Bytes).WithOp(Uapi.IommufdOptionOp.Get).CopyTo(cmd);
        cmd[10] = 1;
        Raw(Uapi.IommufdCmd.Option, cmd).ShouldBe(Errno.EOPNOTSUPP);
    }

    [Fact]
    public void Unmap_cmd()
    {
        U.IoasUnmap(1, 0x1000, 0x1000).ShouldBe(Errno.ENOENT);
        U.IoasAlloc(out uint ioas);
        U.IoasUnmap(ioas, 0x1000, 0x1000).ShouldBe(Errno.ENOENT, "nothing mapped");
        U.IoasUnmap(ioas, 0, ulong.MaxValue, out ulong unmapped).ShouldBe(Errno.Ok, "unmap all of nothing");
        unmapped.ShouldBe(0UL);
        U.IoasUnmap(ioas, ulong.MaxValue, 1).ShouldBe(Errno.EOVERFLOW);
        U.IoasUnmap(ioas, 0x1000, ulong.MaxValue).ShouldBe(Errno.EOVERFLOW);
        U.IoasUnmap(ioas, 0x1000, 0).ShouldBe(Errno.EINVAL);
        U.IoasUnmap(ioas, 0x2000, ulong.MaxValue - 1).ShouldBe(Errno.EOVERFLOW, "the end wraps");
    }

    [Fact]
    public void Map_cmd()
    {
        ulong buf = _rig.Buffer(0x4000);
        ulong iova = 0x10000;
        U.IoasMap(1, buf, 0x4000, ref iova).ShouldBe(Errno.ENOENT);
        U.IoasAlloc(out uint ioas);
        U.IoasMap(ioas, buf, 0x4000, ref iova, IoasMapFlags.FixedIova).ShouldBe(Errno.EINVAL, "neither readable nor writeable");
        U.IoasMap(ioas, buf, 0x4000, ref iova, (IoasMapFlags)0x8 | IoasMapFlags.Readable).ShouldBe(Errno.EOPNOTSUPP);
        iova = ulong.MaxValue;
        U.IoasMap(ioas, buf, 0x4000, ref iova).ShouldBe(Errno.EOVERFLOW);
        iova = 0x10000;
        U.IoasMap(ioas, buf, ulong.MaxValue, ref iova).ShouldBe(Errno.EOVERFLOW);
        U.IoasMap(ioas, buf, 0, ref iova).ShouldBe(Errno.EINVAL);
        iova = ulong.MaxValue - 0x1000;
        U.IoasMap(ioas, buf, 0x4000, ref iova).ShouldBe(Errno.EOVERFLOW, "iova + length wraps");
        iova = 0x10000;
        U.IoasMap(ioas, buf, 0x4000, ref iova).ShouldBe(Errno.Ok);
        U.IoasMap(ioas, buf, 0x4000, ref iova).ShouldBe(Errno.EEXIST);
        var cmd = new byte[Uapi.IommuIoasMap.Bytes];
        default(Uapi.IommuIoasMap).WithSize(Uapi.IommuIoasMap.Bytes).WithFlags((uint)(IoasMapFlags.Readable)).WithIoasId(ioas)
            .WithUserVa(buf).WithLength(0x1000).CopyTo(cmd);
        cmd[12] = 1;
        Raw(Uapi.IommufdCmd.IoasMap, cmd).ShouldBe(Errno.EOPNOTSUPP, "__reserved set");
        U.IoasUnmap(ioas, 0x10000, 0x4000, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(0x4000UL);
        _rig.CheckNoLeak();
    }

    [Fact]
    public void Info_cmd()
    {
        uint len = 0;
        U.GetHwInfo(1, 0, ref len, out _, out _).ShouldBe(Errno.ENOENT);
        U.IoasAlloc(out uint ioas);
        U.GetHwInfo(ioas, 0, ref len, out _, out _).ShouldBe(Errno.ENOENT, "an IOAS is not a device");
        var (dev, _, _) = _rig.MockDomain(ioas);
        ulong data = _rig.Buffer(0x1000);
        len = 16;
        _rig.Mm.CopyToUser(data, Enumerable.Repeat((byte)0xAA, 16).ToArray());
        U.GetHwInfo(dev, data, ref len, out var type, out ulong caps).ShouldBe(Errno.Ok);
        type.ShouldBe(Uapi.HwInfoType.Selftest);
        len.ShouldBe((uint)Uapi.IommuTestHwInfo.Bytes);
        caps.ShouldBe((ulong)Uapi.HwCapabilities.PciAtsNotSupported, "the mock is not capable of ATS");
        var back = new byte[16];
        _rig.Mm.CopyFromUser(data, back);
        Uapi.IommuTestHwInfo.FromBytes(back.AsSpan(0, 8)).TestReg.ShouldBe(IommufdFile.SelftestRegval);
        back.AsSpan(8).ToArray().ShouldAllBe(b => b == 0, "the rest of the user's buffer is cleared");
        var cmd = new byte[Uapi.IommuHwInfo.Bytes];
        default(Uapi.IommuHwInfo).WithSize(Uapi.IommuHwInfo.Bytes).WithFlags(2).WithDevId(dev).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.GetHwInfo, cmd).ShouldBe(Errno.EOPNOTSUPP);
        default(Uapi.IommuHwInfo).WithSize(Uapi.IommuHwInfo.Bytes).WithFlags(1).WithDevId(dev).WithOutDataType(Uapi.HwInfoType.Amd).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.GetHwInfo, cmd).ShouldBe(Errno.EOPNOTSUPP, "a type the driver does not have");
        default(Uapi.IommuHwInfo).WithSize(Uapi.IommuHwInfo.Bytes).WithFlags(1).WithDevId(dev).WithOutDataType(Uapi.HwInfoType.Selftest).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.GetHwInfo, cmd).ShouldBe(Errno.Ok, "its own type");
        Uapi.IommuHwInfo.FromBytes(cmd).OutDataType.ShouldBe(Uapi.HwInfoType.Selftest);
        default(Uapi.IommuHwInfo).WithSize(Uapi.IommuHwInfo.Bytes).WithDevId(dev).WithOutDataType(Uapi.HwInfoType.Amd).CopyTo(cmd);
        Raw(Uapi.IommufdCmd.GetHwInfo, cmd).ShouldBe(Errno.Ok, "without INPUT_TYPE the field is not read");
        Uapi.IommuHwInfo.FromBytes(cmd).OutDataType.ShouldBe(Uapi.HwInfoType.Selftest);
    }

    [Fact]
    public void Destroy_refuses_what_is_in_use_and_close_takes_leaves_first()
    {
        U.IoasAlloc(out uint ioas);
        var (dev, hwpt, _) = _rig.MockDomain(ioas);
        U.Destroy(ioas).ShouldBe(Errno.EBUSY, "the HWPT holds the IOAS");
        U.Destroy(hwpt).ShouldBe(Errno.EBUSY, "the device holds the HWPT");
        U.Destroy(dev).ShouldBe(Errno.EBUSY, "the driver holds the device");
        _rig.CheckNoLeak();
        _rig.Ctx.Objects.Count.ShouldBe(0);
    }

    [Fact]
    public void Faults_are_counted_on_the_bound_device()
    {
        U.IoasAlloc(out uint ioas);
        var (dev, _, device) = _rig.MockDomain(ioas);
        _rig.Ctx.ReportFault(device, 0x1234_5000, write: true).ShouldBeTrue();
        _rig.Ctx.ReportFault(0x7777, 0x1000, write: false).ShouldBeFalse("no such device is bound");
        _rig.Ctx.GetDevice(dev, out var bound).ShouldBe(Errno.Ok);
        bound!.Faults.ShouldBe(1);
        bound.LastFaultIova.ShouldBe(0x1234_5000UL);
    }
}
