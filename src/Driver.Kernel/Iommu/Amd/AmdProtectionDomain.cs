using Driver.Hw.AmdIommu;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// A paging domain of the AMD driver (Linux struct protection_domain): an iommupt AMDv1
/// table, a domain id, and the devices whose DTE points at the table. The table calls back
/// here to flush (INVALIDATE_IOMMU_PAGES with the S-bit range and the PDE bit, then
/// COMPLETION_WAIT; it frees table frames only after that returns) and when it grows a
/// level (every attached device's DTE is rewritten with the new root and Mode).
/// </summary>
public sealed class AmdProtectionDomain : IIommuPtDriver, IIommuDomainOps, IIommuDomainResize
{
    private readonly AmdIommuDriver _iommu;
    private readonly ICommandQueue _commands;
    private readonly ILogger _logger;
    private readonly SortedSet<ushort> _devices = [];
    private readonly Lock _lock = new();
    private IommuPageTable<AmdV1Format>? _table;
    private bool _disposed;

    private AmdProtectionDomain(AmdIommuDriver iommu, ICommandQueue commands, ushort domainId)
    {
        _iommu = iommu;
        _commands = commands;
        DomainId = domainId;
        _logger = iommu.LoggerFactory.CreateLogger<AmdProtectionDomain>();
    }

    public ushort DomainId { get; }

    public IommuPageTable<AmdV1Format> Table => _table ?? throw new ObjectDisposedException(nameof(AmdProtectionDomain));

    public IReadOnlyCollection<ushort> Devices
    {
        get
        {
            lock (_lock)
                return [.. _devices];
        }
    }

    /// <summary>Flushes that did not complete (a timeout or a stopped processor); each was logged.</summary>
    public int FailedFlushes { get; private set; }

    /// <summary>
    /// A new domain with an empty table that may grow up to the IOMMU's EFR.HATS levels. ENOSPC
    /// without a free domain id, ENOMEM without a frame for the table, ENODEV before init.
    /// </summary>
    public static Errno Alloc(AmdIommuDriver iommu, out AmdProtectionDomain? domain, ICommandQueue? commands = null)
    {
        ArgumentNullException.ThrowIfNull(iommu);
        domain = null;
        if (!iommu.Initialized)
            return Errno.ENODEV;
        var err = iommu.DomainIds.Alloc(out ushort id);
        if (err != Errno.Ok)
            return err;
        var created = new AmdProtectionDomain(iommu, commands ?? iommu.Commands, id);
        var config = new PtConfig
        {
            TopLevel = 2,
            VaBits = Math.Min(AmdV1Format.MaxVaBits, 12 + (9 * iommu.MaxLevels)),
            DynamicTop = true,
            PageSizes = iommu.DomainPageSizes,
        };
        err = IommuPageTable<AmdV1Format>.Init(config, iommu.Memory, iommu.Allocator, created, out created._table);
        if (err != Errno.Ok)
        {
            iommu.DomainIds.Free(id);
            return err;
        }
        domain = created;
        return Errno.Ok;
    }

    /// <summary>The DTE that points a device at this domain's table.</summary>
    public AmdDte EntryFor() => EntryFor(Table.TopPa, Table.TopLevel);

    private AmdDte EntryFor(ulong topPa, int topLevel) => AmdIommuDriver.BlockedEntry
        .WithMode((PagingMode)(topLevel + 1)).WithHostPageTableRoot(topPa).WithDomainId(DomainId)
        .WithIoRead(true).WithIoWrite(true).WithHostAccessDirty(DirtyTracking ? (byte)3 : (byte)0);

    /// <summary>
    /// Points <paramref name="deviceId"/> at this domain (its DTE, then INVALIDATE_DEVTAB_ENTRY
    /// and a wait). ENODEV for a DeviceID outside the device table; EIO when the flush fails.
    /// </summary>
    public Errno Attach(ushort deviceId)
    {
        lock (_lock)
        {
            var err = WriteDeviceTableEntry(deviceId, EntryFor());
            if (err != Errno.Ok)
                return err;
            _devices.Add(deviceId);
            return Errno.Ok;
        }
    }

    /// <summary>
    /// Leaves <paramref name="deviceId"/> blocked and drops what the IOTLB holds for this domain.
    /// ENOENT when the device is not attached here.
    /// </summary>
    public Errno Detach(ushort deviceId)
    {
        lock (_lock)
        {
            if (!_devices.Remove(deviceId))
                return Errno.ENOENT;
            var err = WriteDeviceTableEntry(deviceId, AmdIommuDriver.BlockedEntry);
            if (err != Errno.Ok)
                return err;
            return Flush(AmdCommand.InvalidateDomain(DomainId));
        }
    }

    void IIommuPtDriver.FlushIotlb(ulong iova, ulong last)
    {
        Flush(AmdCommand.InvalidateIommuPages(DomainId, iova, last, pde: true));
    }

    void IIommuPtDriver.ChangeTop(ulong topPa, int topLevel)
    {
        ushort[] devices;
        lock (_lock)
            devices = [.. _devices];
        var entry = EntryFor(topPa, topLevel);
        // Growth cannot fail (Linux's update is void): a DTE flush that does not complete is counted where it is written.
        foreach (ushort id in devices)
            WriteDeviceTableEntry(id, entry);
        Log.DomainGrew(_logger, DomainId, topLevel + 1, devices.Length);
    }

    public ulong PageSizeBitmap => Table.PageSizeBitmap;

    public int VaBits => Table.VaBits;

    /// <summary>Whether DTEs of this domain ask the IOMMU to set dirty bits (DTE.HAD).</summary>
    public bool DirtyTracking { get; private set; }

    public Errno MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped) =>
        Table.MapPages(iova, paddr, pgsize, pgcount, prot, out mapped);

    public ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount, IotlbGather gather)
    {
        Table.UnmapPages(iova, pgsize * pgcount, gather, out ulong unmapped);
        return unmapped;
    }

    public ulong IovaToPhys(ulong iova) => Table.IovaToPhys(iova);

    public Errno Cut(ulong iova) => Table.Cut(iova);

    public Errno Merge(ulong iova, ulong length) => Table.Merge(iova, length);

    public void IotlbSync(IotlbGather gather) => Table.IotlbSync(gather);

    /// <summary>
    /// amd_iommu_set_dirty_tracking: EOPNOTSUPP without EFR.HDSup; otherwise every attached DTE
    /// gets HAD set (or cleared) and the domain is flushed.
    /// </summary>
    public Errno SetDirtyTracking(bool enabled)
    {
        if (!_iommu.Features.HdSup)
            return Errno.EOPNOTSUPP;
        lock (_lock)
        {
            if (DirtyTracking == enabled)
                return Errno.Ok;
            DirtyTracking = enabled;
            foreach (ushort id in _devices)
            {
                var err = WriteDeviceTableEntry(id, EntryFor());
                if (err != Errno.Ok)
                    return err;
            }
        }
        return FlushIotlbAll();
    }

    public Errno ReadAndClearDirty(ulong iova, ulong size, DirtyFlags flags, IovaBitmap bitmap)
    {
        if (!DirtyTracking && (flags & DirtyFlags.NoClear) == 0)
            return Errno.EINVAL;
        var gather = new IotlbGather();
        var err = Table.ReadAndClearDirty(iova, size, flags, bitmap, gather);
        Table.IotlbSync(gather);
        return err;
    }

    /// <summary>The device moved to another domain: forget it here and drop what the IOTLB holds for this domain.</summary>
    internal Errno Release(ushort deviceId)
    {
        lock (_lock)
        {
            if (!_devices.Remove(deviceId))
                return Errno.ENOENT;
        }
        return FlushIotlbAll();
    }

    /// <summary>Flushes every translation of the domain (Linux amd_iommu_flush_iotlb_all).</summary>
    public Errno FlushIotlbAll() => Flush(AmdCommand.InvalidateDomain(DomainId));

    /// <summary>Frees the table and the domain id. Every device must have been detached (EBUSY otherwise).</summary>
    public Errno Free()
    {
        lock (_lock)
        {
            if (_disposed)
                return Errno.Ok;
            if (_devices.Count != 0)
                return Errno.EBUSY;
            _disposed = true;
        }
        Table.Deinit();
        _table = null;
        _iommu.DomainIds.Free(DomainId);
        return Errno.Ok;
    }

    private Errno WriteDeviceTableEntry(ushort deviceId, AmdDte entry)
    {
        var err = _iommu.WriteDeviceTableEntry(deviceId, entry, _commands);
        if (err is not Errno.Ok and not Errno.ENODEV)
            FailedFlushes++;
        return err;
    }

    private Errno Flush(AmdCommand invalidate)
    {
        var err = _iommu.Config.SkipIotlbInvalidation ? _commands.CompletionWait() : _commands.PostAndWait(invalidate);
        if (err != Errno.Ok)
            FailedFlushes++;
        return err;
    }
}
