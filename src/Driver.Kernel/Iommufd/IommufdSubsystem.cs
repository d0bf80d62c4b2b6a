using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// iommufd as a whole (the module behind /dev/iommu): the IOMMU core it drives, the memory its
/// accesses read and write, and which devices some context owns for DMA. <see cref="Open"/>
/// is opening /dev/iommu: each context is one file with its own objects.
/// </summary>
public sealed class IommufdSubsystem
{
    private readonly HashSet<ushort> _owned = [];

    public IommufdSubsystem(IommuCore core, IPhysicalMemory memory, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(core);
        ArgumentNullException.ThrowIfNull(memory);
        Core = core;
        Memory = memory;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    public IommuCore Core { get; }

    /// <summary>The IOMMU driver's GET_HW_INFO report (iommu_ops.hw_info), when it has one.</summary>
    public IIommuHwInfo? HwInfo => Core.Driver as IIommuHwInfo;

    public IPhysicalMemory Memory { get; }

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Fault injection every allocation site of iommufd asks before allocating; null never fails.</summary>
    public FailNth? FailNth { get; set; }

    public IReadOnlyCollection<ushort> OwnedDevices => _owned;

    public IommufdContext Open() => new(this);

    /// <summary>iommu_device_claim_dma_owner: EBUSY when a context already owns the device.</summary>
    internal Errno ClaimDmaOwner(ushort deviceId) => _owned.Add(deviceId) ? Errno.Ok : Errno.EBUSY;

    internal void ReleaseDmaOwner(ushort deviceId) => _owned.Remove(deviceId);

    internal bool ShouldFail() => FailNth?.ShouldFail() == true;
}
