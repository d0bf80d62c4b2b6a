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

    /// <summary>
    /// On an SNP host, the largest order an I/O page over a frame may have because of its RMP entry
    /// (0 for a 4K or unassigned entry, 9 for a 2M one; Linux's sev_gmem_max_mapping_level). It caps
    /// guest_memfd bindings' page sizes; null off SNP, where the folio decides.
    /// </summary>
    public Func<ulong, int>? GuestMemfdRmpMaxOrder { get; init; }

    /// <summary>
    /// Test only: guest_memfd bindings do not register their invalidation notifier, so conversions and
    /// truncations leave their IOMMU mappings alone. It exists so that a test can show the machine's
    /// monitors and RMP check catching what the notifier prevents; no real configuration sets it.
    /// </summary>
    internal bool SkipGuestMemfdNotifier { get; init; }

    public IommufdContext Open() => new(this);

    /// <summary>iommu_device_claim_dma_owner: EBUSY when a context already owns the device.</summary>
    internal Errno ClaimDmaOwner(ushort deviceId) => _owned.Add(deviceId) ? Errno.Ok : Errno.EBUSY;

    internal void ReleaseDmaOwner(ushort deviceId) => _owned.Remove(deviceId);

    internal bool ShouldFail() => FailNth?.ShouldFail() == true;
}
