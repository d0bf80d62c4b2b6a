using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.Mm;

namespace Driver.Kernel.Iommufd.Mock;

/// <summary>
/// The IOMMU driver of Linux's iommufd selftest (selftest.c): devices that exist because a test
/// adds them, paging domains on iommupt AMDv1 in plain memory (<see cref="MockDomain"/>), and
/// attach bookkeeping, so iommufd runs end to end without the simulated machine.
/// </summary>
public sealed class MockIommuDriver : IIommuDriver, IIommuHwInfo
{
    private readonly IPhysicalMemory _memory;
    private readonly IFrameAllocator _frames;
    private readonly Dictionary<ushort, MockDeviceFlags> _devices = [];
    private readonly Dictionary<ushort, MockDomain?> _attached = [];
    private readonly List<MockDomain> _domains = [];

    public MockIommuDriver(IPhysicalMemory memory, IFrameAllocator frames, MockDomainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(frames);
        _memory = memory;
        _frames = frames;
        Options = options ?? MockDomainOptions.Plain;
    }

    public MockDomainOptions Options { get; }

    /// <summary>Every domain allocated and not yet freed.</summary>
    public IReadOnlyList<MockDomain> LiveDomains => _domains.FindAll(d => !d.IsFreed);

    /// <summary>Makes a device exist behind the mock IOMMU (the selftest's mock device).</summary>
    public void AddDevice(ushort deviceId, MockDeviceFlags flags = MockDeviceFlags.None) => _devices[deviceId] = flags;

    /// <summary>The domain a device is attached to; null when blocked or passed through.</summary>
    public MockDomain? DomainOf(ushort deviceId) => _attached.GetValueOrDefault(deviceId);

    /// <summary>
    /// mock_domain_hw_info: struct iommu_test_hw_info (flags 0, test_reg IOMMU_HW_INFO_SELFTEST_REGVAL)
    /// as IOMMU_HW_INFO_TYPE_SELFTEST; EOPNOTSUPP for any other type asked for.
    /// </summary>
    public Errno HwInfo(ushort deviceId, ref uint type, out byte[] data)
    {
        data = [];
        if (type != (uint)Driver.Hw.Iommufd.HwInfoType.None && type != (uint)Driver.Hw.Iommufd.HwInfoType.Selftest)
            return Errno.EOPNOTSUPP;
        data = new byte[Driver.Hw.Iommufd.IommuTestHwInfo.Bytes];
        default(Driver.Hw.Iommufd.IommuTestHwInfo).WithTestReg(IommufdFile.SelftestRegval).CopyTo(data);
        type = (uint)Driver.Hw.Iommufd.HwInfoType.Selftest;
        return Errno.Ok;
    }

    public Errno ProbeDevice(ushort deviceId, out IommuDeviceCaps caps)
    {
        caps = default;
        if (!_devices.TryGetValue(deviceId, out var flags))
            return Errno.ENODEV;
        caps = new IommuDeviceCaps(Options.Dirty && (flags & MockDeviceFlags.NoDirty) == 0, 3);
        return Errno.Ok;
    }

    public Errno AllocPagingDomain(DomainAllocFlags flags, out IIommuDomainOps? domain)
    {
        domain = null;
        if ((flags & ~DomainAllocFlags.DirtyTracking) != 0)
            return Errno.EOPNOTSUPP;
        if ((flags & DomainAllocFlags.DirtyTracking) != 0 && !Options.Dirty)
            return Errno.EOPNOTSUPP;
        var err = MockDomain.Alloc(_memory, _frames, Options, (flags & DomainAllocFlags.DirtyTracking) != 0, out var mock);
        if (err != Errno.Ok)
            return err;
        _domains.Add(mock!);
        domain = mock;
        return Errno.Ok;
    }

    /// <summary>EINVAL for a domain of another driver, or a dirty-tracking domain on a device that cannot track.</summary>
    public Errno AttachDevice(ushort deviceId, IommuDomainType type, IIommuDomainOps? paging)
    {
        if (!_devices.TryGetValue(deviceId, out var flags))
            return Errno.ENODEV;
        MockDomain? target = null;
        if (type == IommuDomainType.Paging)
        {
            if (paging is not MockDomain mock || mock.IsFreed)
                return Errno.EINVAL;
            if (mock.DirtyCapable && (flags & MockDeviceFlags.NoDirty) != 0)
                return Errno.EINVAL;
            target = mock;
        }
        _attached[deviceId] = target;
        return Errno.Ok;
    }
}
