using System.Buffers.Binary;
using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Mm;
using Driver.Platform;
using Driver.Platform.Iommu;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// IOMMU_GET_HW_INFO on the AMD driver at the byte level: struct iommu_hw_info (40 bytes) and
/// struct iommu_hw_info_amd (efr, efr2) written by hand at Linux's offsets, as a VMM would.
/// </summary>
public sealed class AmdHwInfoTests
{
    private const ushort Device = 0x20;

    private static readonly ExtendedFeatureRegister Efr = new IommuConfig().Efr.WithHdSup(true).WithHaSup(true).WithGtSup(true);
    private static readonly ExtendedFeature2Register Efr2 = new ExtendedFeature2Register(0).WithSevSnpIoSup(true);

    private sealed class Setup
    {
        public Setup(bool hd = true)
        {
            Machine = new Machine(new MachineConfig { Iommu = new IommuConfig { Efr = Efr.WithHdSup(hd), Efr2 = Efr2 } });
            var tables = new FrameAllocator(Machine.KernelMemory, 0x20_0000_0000, 16UL << 20);
            Driver = new AmdIommuDriver(Machine.Mmio, Machine.KernelMemory, Machine.Clock, tables,
                new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
            Driver.Init().ShouldBe(Errno.Ok);
            var core = new IommuCore(Driver, Machine.Clock);
            Mm = new UserAddressSpace(new PageCounts(new FrameAllocator(Machine.KernelMemory, 0x30_0000_0000, 1UL << 20)), Machine.KernelMemory);
            var ctx = new IommufdSubsystem(core, Machine.KernelMemory).Open();
            File = new IommufdFile(ctx, Mm, new FdTable());
            core.ProbeDevice(Device).ShouldBe(Errno.Ok);
            ctx.DeviceBind(Device, out uint dev).ShouldBe(Errno.Ok);
            DevId = dev;
            Mm.Mmap(0x1000, out ulong buffer).ShouldBe(Errno.Ok);
            Mm.Populate(buffer, 0x1000).ShouldBe(Errno.Ok);
            Buffer = buffer;
        }

        public Machine Machine { get; }

        public AmdIommuDriver Driver { get; }

        public UserAddressSpace Mm { get; }

        public IommufdFile File { get; }

        public uint DevId { get; }

        public ulong Buffer { get; }

        public Errno Call(byte[] cmd) => File.Ioctl(IommufdFile.Command(Uapi.IommufdCmd.GetHwInfo), cmd);

        public byte[] UserBytes(int length)
        {
            var bytes = new byte[length];
            Mm.CopyFromUser(Buffer, bytes).ShouldBe(Errno.Ok);
            return bytes;
        }

        public void FillUser(byte value, int length) => Mm.CopyToUser(Buffer, Enumerable.Repeat(value, length).ToArray()).ShouldBe(Errno.Ok);
    }

    // struct iommu_hw_info: size 0, flags 4, dev_id 8, data_len 12, data_uptr 16, in/out_data_type 24,
    // out_max_pasid_log2 28, __reserved[3] 29, out_capabilities 32.
    private static byte[] Cmd(uint devId, uint dataLen, ulong dataUptr, uint flags = 0, uint type = 0, int size = 40)
    {
        var cmd = new byte[Math.Max(size, 40)];
        BinaryPrimitives.WriteUInt32LittleEndian(cmd, (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(cmd.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(cmd.AsSpan(8), devId);
        BinaryPrimitives.WriteUInt32LittleEndian(cmd.AsSpan(12), dataLen);
        BinaryPrimitives.WriteUInt64LittleEndian(cmd.AsSpan(16), dataUptr);
        BinaryPrimitives.WriteUInt32LittleEndian(cmd.AsSpan(24), type);
        cmd[28] = 0xFF;
        BinaryPrimitives.WriteUInt64LittleEndian(cmd.AsSpan(32), ulong.MaxValue);
        return cmd[..size];
    }

    private static uint DataLen(byte[] cmd) => BinaryPrimitives.ReadUInt32LittleEndian(cmd.AsSpan(12));

    private static uint Type(byte[] cmd) => BinaryPrimitives.ReadUInt32LittleEndian(cmd.AsSpan(24));

    private static ulong Caps(byte[] cmd) => BinaryPrimitives.ReadUInt64LittleEndian(cmd.AsSpan(32));

    [Fact]
    public void TheDefaultType_IsAmd_WithTheEfrAndEfr2TheDriverRead_AndItsCapabilities()
    {
        var s = new Setup();
        s.FillUser(0xAA, 16);
        var cmd = Cmd(s.DevId, 16, s.Buffer);
        s.Call(cmd).ShouldBe(Errno.Ok);
        Type(cmd).ShouldBe(4u, "IOMMU_HW_INFO_TYPE_AMD");
        DataLen(cmd).ShouldBe(16u);
        cmd[28].ShouldBe((byte)0, "no PASID");
        // IOMMU_HW_CAP_DIRTY_TRACKING (EFR.HDSup) | IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED.
        Caps(cmd).ShouldBe(0x1UL | 0x8UL);
        var data = s.UserBytes(16);
        BinaryPrimitives.ReadUInt64LittleEndian(data).ShouldBe(Efr.Raw);
        BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(8)).ShouldBe(Efr2.Raw);
        s.Driver.Features.Raw.ShouldBe(Efr.Raw);
    }

    [Fact]
    public void WithoutHdSup_TheDirtyTrackingCapabilityIsNotReported()
    {
        var s = new Setup(hd: false);
        var cmd = Cmd(s.DevId, 0, 0);
        s.Call(cmd).ShouldBe(Errno.Ok);
        Caps(cmd).ShouldBe(0x8UL);
        DataLen(cmd).ShouldBe(16u, "the length the driver has, for a caller that asked with none");
        Type(cmd).ShouldBe(4u);
    }

    [Fact]
    public void AShortUserBuffer_GetsOnlyWhatFits_AndLearnsTheFullLength()
    {
        var s = new Setup();
        s.FillUser(0xAA, 16);
        var cmd = Cmd(s.DevId, 8, s.Buffer);
        s.Call(cmd).ShouldBe(Errno.Ok);
        DataLen(cmd).ShouldBe(16u);
        var data = s.UserBytes(16);
        BinaryPrimitives.ReadUInt64LittleEndian(data).ShouldBe(Efr.Raw);
        data.AsSpan(8).ToArray().ShouldAllBe(b => b == 0xAA, "nothing past data_len is written");
    }

    [Fact]
    public void ALongUserBuffer_IsZeroedPastTheDriversStruct()
    {
        var s = new Setup();
        s.FillUser(0xAA, 64);
        var cmd = Cmd(s.DevId, 48, s.Buffer);
        s.Call(cmd).ShouldBe(Errno.Ok);
        DataLen(cmd).ShouldBe(16u);
        var data = s.UserBytes(64);
        BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(8)).ShouldBe(Efr2.Raw);
        data.AsSpan(16, 32).ToArray().ShouldAllBe(b => b == 0);
        data.AsSpan(48).ToArray().ShouldAllBe(b => b == 0xAA);
    }

    [Fact]
    public void TheTypeField_IsAnInputOnlyWithInputType()
    {
        var s = new Setup();
        var cmd = Cmd(s.DevId, 16, s.Buffer, flags: 0, type: 0x77);
        s.Call(cmd).ShouldBe(Errno.Ok, "without the flag any input type is DEFAULT");
        Type(cmd).ShouldBe(4u);

        cmd = Cmd(s.DevId, 16, s.Buffer, flags: 1, type: 4);
        s.Call(cmd).ShouldBe(Errno.Ok);
        Type(cmd).ShouldBe(4u);

        cmd = Cmd(s.DevId, 16, s.Buffer, flags: 1, type: 0);
        s.Call(cmd).ShouldBe(Errno.Ok, "DEFAULT asked for explicitly");
        Type(cmd).ShouldBe(4u);

        s.FillUser(0xAA, 16);
        cmd = Cmd(s.DevId, 16, s.Buffer, flags: 1, type: 2);
        var before = (byte[])cmd.Clone();
        s.Call(cmd).ShouldBe(Errno.EOPNOTSUPP, "ARM SMMUv3 info from an AMD IOMMU");
        cmd.ShouldBe(before, "nothing is written back on failure");
        s.UserBytes(16).ShouldAllBe(b => b == 0xAA);
    }

    [Theory]
    [InlineData(2u, 0, Errno.EOPNOTSUPP)]
    [InlineData(0x8000_0000u, 0, Errno.EOPNOTSUPP)]
    [InlineData(0u, 29, Errno.EOPNOTSUPP)]
    [InlineData(0u, 31, Errno.EOPNOTSUPP)]
    public void UnknownFlagsAndReservedBytes_AreNotSupported(uint flags, int reservedByte, Errno expected)
    {
        var s = new Setup();
        var cmd = Cmd(s.DevId, 16, s.Buffer, flags);
        if (reservedByte != 0)
            cmd[reservedByte] = 1;
        s.Call(cmd).ShouldBe(expected);
    }

    [Fact]
    public void ABadDevice_IsEnoent_AndABadUserPointer_IsEfault()
    {
        var s = new Setup();
        s.Call(Cmd(s.DevId + 50, 16, s.Buffer)).ShouldBe(Errno.ENOENT);
        s.Call(Cmd(s.DevId, 16, 0x7000_0000)).ShouldBe(Errno.EFAULT);
        s.Call(Cmd(s.DevId, 32, s.Buffer + 0x1000 - 16)).ShouldBe(Errno.EFAULT, "the zeroed tail runs off the mapping");
        s.Call(Cmd(s.DevId, 0, 0x7000_0000)).ShouldBe(Errno.Ok, "nothing to copy");
    }

    [Fact]
    public void SizeRules_AreTheCommonOnes()
    {
        var s = new Setup();
        s.Call(Cmd(s.DevId, 0, 0, size: 28)).ShouldBe(Errno.EINVAL, "ends before out_max_pasid_log2's reserved bytes");
        var shorter = Cmd(s.DevId, 0, 0, size: 32);
        s.Call(shorter).ShouldBe(Errno.Ok, "out_capabilities is not mandatory");
        Type(shorter).ShouldBe(4u);
        shorter.Length.ShouldBe(32, "nothing is written past the caller's size");
        var longer = Cmd(s.DevId, 0, 0, size: 48);
        longer[44] = 1;
        s.Call(longer).ShouldBe(Errno.E2BIG);
        longer[44] = 0;
        s.Call(longer).ShouldBe(Errno.Ok);
        Caps(longer).ShouldBe(0x9UL);
    }

    [Fact]
    public void TheDriversHook_RefusesOtherTypes_AndAnIommuThatIsNotUp()
    {
        var s = new Setup();
        uint type = 1;
        s.Driver.HwInfo(Device, ref type, out var data).ShouldBe(Errno.EOPNOTSUPP);
        data.ShouldBeEmpty();
        type.ShouldBe(1u);
        var idle = new AmdIommuDriver(s.Machine.Mmio, s.Machine.KernelMemory, s.Machine.Clock,
            new FrameAllocator(s.Machine.KernelMemory, 0x21_0000_0000, 1UL << 20), new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
        type = 0;
        idle.HwInfo(Device, ref type, out data).ShouldBe(Errno.ENODEV);
        data.ShouldBeEmpty();
        type = 4;
        s.Driver.HwInfo(Device, ref type, out data).ShouldBe(Errno.Ok);
        Uapi.IommuHwInfoAmd.FromBytes(data).Efr2.ShouldBe(Efr2.Raw);
    }
}
