using Driver.Kernel.Iommu;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;
using Shouldly;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// iommufd over the mock IOMMU on plain memory, as Linux's selftest runs: a process's user
/// memory, the mock driver with its own frame zone for page tables, the IOMMU core, one open
/// context, and one fault injection shared by every allocation site.
/// </summary>
internal sealed class IommufdRig
{
    public const ulong UserBase = 0x4000_0000;
    public const ulong TableBase = 0x20_0000_0000;

    public IommufdRig(MockDomainOptions? options = null, ulong userFrames = 16384, ILoggerFactory? logs = null)
    {
        Memory = new PhysicalMemory();
        UserFrames = new FrameAllocator(Memory, UserBase, userFrames * Page.Size, logs);
        FailNth = new FailNth(logs);
        Pages = new PageCounts(UserFrames, FailNth, logs);
        Mm = new UserAddressSpace(Pages, Memory, logs);
        TableFrames = new FrameAllocator(Memory, TableBase, 64UL << 20, logs);
        Driver = new MockIommuDriver(Memory, new FaultInjectingFrameAllocator(TableFrames, FailNth), options);
        Core = new IommuCore(Driver, new MockClock(), new IommuCoreConfig { Strict = true, Passthrough = true }, logs);
        Subsystem = new IommufdSubsystem(Core, Memory, logs) { FailNth = FailNth };
        Ctx = Subsystem.Open();
        Fds = new FdTable();
    }

    public PhysicalMemory Memory { get; }

    public FrameAllocator UserFrames { get; }

    public FrameAllocator TableFrames { get; }

    public FailNth FailNth { get; }

    public PageCounts Pages { get; }

    public UserAddressSpace Mm { get; }

    public MockIommuDriver Driver { get; }

    public IommuCore Core { get; }

    public IommufdSubsystem Subsystem { get; }

    public IommufdContext Ctx { get; }

    public FdTable Fds { get; }

    private ushort _nextDevice = 0x10;

    /// <summary>A mock device probed by the core (the selftest's mock device before bind).</summary>
    public ushort NewDevice(MockDeviceFlags flags = MockDeviceFlags.None)
    {
        ushort id = _nextDevice++;
        Driver.AddDevice(id, flags);
        Core.ProbeDevice(id).ShouldBe(Errno.Ok);
        return id;
    }

    /// <summary>test_cmd_mock_domain: a bound device attached to the IOAS; returns (device object id, hwpt id).</summary>
    public (uint DevId, uint HwptId, ushort DeviceId) MockDomain(uint ioasId, MockDeviceFlags flags = MockDeviceFlags.None)
    {
        ushort device = NewDevice(flags);
        Ctx.DeviceBind(device, out uint devId).ShouldBe(Errno.Ok);
        uint pt = ioasId;
        Ctx.DeviceAttach(devId, ref pt).ShouldBe(Errno.Ok);
        return (devId, pt, device);
    }

    /// <summary>An anonymous, populated, writable buffer of <paramref name="length"/> bytes.</summary>
    public ulong Buffer(ulong length)
    {
        Mm.Mmap(length, out ulong uva).ShouldBe(Errno.Ok);
        Mm.Populate(uva, length).ShouldBe(Errno.Ok);
        return uva;
    }

    /// <summary>Nothing iommufd pinned is left pinned, and every table frame went back.</summary>
    public void CheckNoLeak()
    {
        Ctx.Close();
        Pages.TotalPins.ShouldBe(0);
        TableFrames.FramesInUse.ShouldBe(0);
        Subsystem.OwnedDevices.ShouldBeEmpty();
    }
}
