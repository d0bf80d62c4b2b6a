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

    public IommufdRig(MockDomainOptions? options = null, ulong userFrames = 16384, ILoggerFactory? logs = null,
        bool skipGuestMemfdNotifier = false, Func<ulong, int>? rmpMaxOrder = null)
    {
        Memory = new PhysicalMemory();
        UserFrames = new FrameAllocator(Memory, UserBase, userFrames * Page.Size, logs);
        FailNth = new FailNth(logs);
        Pages = new PageCounts(UserFrames, FailNth, logs);
        Mm = new UserAddressSpace(Pages, Memory, logs);
        TableFrames = new FrameAllocator(Memory, TableBase, 64UL << 20, logs);
        Driver = new MockIommuDriver(Memory, new FaultInjectingFrameAllocator(TableFrames, FailNth), options);
        Core = new IommuCore(Driver, new MockClock(), new IommuCoreConfig { Strict = true, Passthrough = true }, logs);
        Subsystem = new IommufdSubsystem(Core, Memory, logs)
        {
            FailNth = FailNth,
            SkipGuestMemfdNotifier = skipGuestMemfdNotifier,
            GuestMemfdRmpMaxOrder = rmpMaxOrder,
        };
        Ctx = Subsystem.Open();
        Fds = new FdTable();
        File = new IommufdFile(Ctx, Mm, Fds);
        Utils = new IommufdUtils(File);
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

    /// <summary>The context as user space holds it: the ioctl entry point.</summary>
    public IommufdFile File { get; }

    /// <summary>The typed wrappers over <see cref="File"/> (iommufd_utils.h).</summary>
    public IommufdUtils Utils { get; }

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
        ulong rounded = (length + Page.Size - 1) & ~(Page.Size - 1);
        Mm.Mmap(rounded, out ulong uva).ShouldBe(Errno.Ok);
        Mm.Populate(uva, rounded).ShouldBe(Errno.Ok);
        return uva;
    }

    public MemFdHandle NewMemFd(ulong size)
    {
        MemFd.Create(Pages, Memory, size, out var handle).ShouldBe(Errno.Ok);
        return handle!;
    }

    /// <summary>Writes IOVA ranges as an array of struct iommu_iova_range at a new user buffer.</summary>
    public ulong Ranges(params (ulong Start, ulong Last)[] ranges)
    {
        ulong uva = Buffer(Math.Max(1, (ulong)ranges.Length * 16));
        var bytes = new byte[ranges.Length * 16];
        for (int i = 0; i < ranges.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 16), ranges[i].Start);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((i * 16) + 8), ranges[i].Last);
        }
        Mm.CopyToUser(uva, bytes).ShouldBe(Errno.Ok);
        return uva;
    }

    /// <summary>Reads back an array of struct iommu_iova_range.</summary>
    public (ulong Start, ulong Last)[] ReadRanges(ulong uva, int count)
    {
        var bytes = new byte[count * 16];
        Mm.CopyFromUser(uva, bytes).ShouldBe(Errno.Ok);
        return [.. Enumerable.Range(0, count).Select(i => (
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(i * 16)),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((i * 16) + 8))))];
    }

    /// <summary>Objects, pins and table frames now, to compare after a failed call.</summary>
    public (int Objects, long Pins, long TableFrames, long UserFrames) Snapshot() =>
        (Ctx.Objects.Count, Pages.TotalPins, TableFrames.FramesInUse, UserFrames.FramesInUse);

    /// <summary>Nothing iommufd pinned is left pinned, and every table frame went back.</summary>
    public void CheckNoLeak()
    {
        Ctx.Close();
        Pages.TotalPins.ShouldBe(0);
        TableFrames.FramesInUse.ShouldBe(0);
        Subsystem.OwnedDevices.ShouldBeEmpty();
    }
}
