using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Iommu;

/// <summary>
/// The IOMMU core (Linux drivers/iommu/iommu.c and, for the DMA API, dma-iommu.c): devices and
/// their groups, the identity and blocked domains, paging domains from the driver, attach,
/// detach and replace with Linux's errno, and map/unmap split into the largest page sizes.
/// One kernel thread drives it, as it drives the machine.
/// </summary>
public sealed class IommuCore
{
    private readonly IIommuDriver _driver;
    private readonly IClock _clock;
    private readonly ILogger _logger;
    private readonly Dictionary<ushort, IommuGroup> _groups = [];
    private readonly List<IommuDomain> _lazyDomains = [];

    // A strict unmap syncs its gather before it returns, and one thread drives the core: one gather serves them all.
    private readonly IotlbGather _strictGather = new();

    public IommuCore(IIommuDriver driver, IClock clock, IommuCoreConfig? config = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentNullException.ThrowIfNull(clock);
        _driver = driver;
        _clock = clock;
        Config = config ?? new IommuCoreConfig();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<IommuCore>();
        Identity = new IommuDomain(IommuDomainType.Identity, null, null);
        Blocked = new IommuDomain(IommuDomainType.Blocked, null, null);
    }

    public IommuCoreConfig Config { get; }

    /// <summary>The IOMMU driver behind every device of this core (what dev_iommu_ops returns).</summary>
    public IIommuDriver Driver => _driver;

    /// <summary>The one identity domain (passthrough).</summary>
    public IommuDomain Identity { get; }

    /// <summary>The one blocked domain.</summary>
    public IommuDomain Blocked { get; }

    public IReadOnlyCollection<IommuGroup> Groups => _groups.Values;

    /// <summary>
    /// Adds a device: its group, its default domain (a paging DMA domain, or the identity domain
    /// with passthrough) and the attach. ENODEV when the driver does not know the device; Ok when
    /// it was added before.
    /// </summary>
    public Errno ProbeDevice(ushort deviceId)
    {
        RunTimers();
        if (_groups.ContainsKey(deviceId))
            return Errno.Ok;
        var err = _driver.ProbeDevice(deviceId, out var caps);
        if (err != Errno.Ok)
        {
            Log.ProbeFailed(_logger, deviceId, err);
            return err;
        }
        IommuDomain domain = Identity;
        if (!Config.Passthrough)
        {
            err = AllocPagingDomain(DomainAllocFlags.None, out var paging, strict: Config.Strict);
            if (err != Errno.Ok)
            {
                Log.ProbeFailed(_logger, deviceId, err);
                return err;
            }
            domain = paging!;
            domain.Iovas = new IovaAllocator(domain.Ops!.VaBits >= 64 ? ulong.MaxValue : 1UL << domain.Ops.VaBits);
        }
        err = _driver.AttachDevice(deviceId, domain.Type, domain.Ops);
        if (err != Errno.Ok)
        {
            if (domain != Identity)
                FreeDomain(domain);
            Log.ProbeFailed(_logger, deviceId, err);
            return err;
        }
        domain.AttachedDevices++;
        _groups.Add(deviceId, new IommuGroup(deviceId, caps, domain));
        Log.DeviceAdded(_logger, deviceId, domain.Type);
        return Errno.Ok;
    }

    public IommuGroup? GroupOf(ushort deviceId) => _groups.GetValueOrDefault(deviceId);

    /// <summary>
    /// A new paging domain from the driver (iommu_paging_domain_alloc_flags). <paramref name="strict"/>
    /// chooses the invalidation; by default the boot option.
    /// </summary>
    public Errno AllocPagingDomain(DomainAllocFlags flags, out IommuDomain? domain, bool? strict = null)
    {
        domain = null;
        var err = _driver.AllocPagingDomain(flags, out var ops);
        if (err != Errno.Ok)
            return err;
        var queue = strict ?? Config.Strict ? null : new FlushQueue(_clock, Config.FlushQueueCapacity, Config.FlushQueueTimeoutNs, _logger);
        domain = new IommuDomain(IommuDomainType.Paging, ops, queue);
        if (queue is not null)
            _lazyDomains.Add(domain);
        return Errno.Ok;
    }

    /// <summary>
    /// Frees a paging domain: EBUSY while a device is attached; the flush queue is drained first.
    /// The identity and blocked domains are never freed (EINVAL).
    /// </summary>
    public Errno FreeDomain(IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (domain.Type != IommuDomainType.Paging || domain.Freed)
            return Errno.EINVAL;
        if (domain.AttachedDevices != 0)
            return Errno.EBUSY;
        if (domain.FlushQueue is { } queue)
        {
            var err = queue.Flush(domain.Ops!);
            if (err != Errno.Ok)
                return err;
            _lazyDomains.Remove(domain);
        }
        domain.Freed = true;
        return domain.Ops!.Free();
    }

    /// <summary>
    /// iommu_attach_device: ENODEV for a device that was never probed; EBUSY when the group is
    /// attached to anything but its default or the blocked domain (the same domain again
    /// included, as Linux's __iommu_attach_group); the driver's errno otherwise, with the old
    /// attachment kept.
    /// </summary>
    public Errno AttachDevice(IommuDomain domain, ushort deviceId)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (!_groups.TryGetValue(deviceId, out var group))
            return Errno.ENODEV;
        if (group.Domain != group.DefaultDomain && group.Domain != Blocked)
            return Errno.EBUSY;
        return SetDomain(group, domain);
    }

    /// <summary>iommu_detach_device: back to the default domain. EINVAL when not attached to <paramref name="domain"/>.</summary>
    public Errno DetachDevice(IommuDomain domain, ushort deviceId)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (!_groups.TryGetValue(deviceId, out var group))
            return Errno.ENODEV;
        if (group.Domain != domain)
            return Errno.EINVAL;
        return SetDomain(group, group.DefaultDomain);
    }

    /// <summary>iommu_group_replace_domain: moves the group to <paramref name="domain"/> whatever it is attached to now.</summary>
    public Errno ReplaceDevice(IommuDomain domain, ushort deviceId)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (!_groups.TryGetValue(deviceId, out var group))
            return Errno.ENODEV;
        return SetDomain(group, domain);
    }

    /// <summary>
    /// iommu_map: EINVAL for a domain that does not page or a range not aligned to its smallest
    /// page; otherwise map_pages in the largest sizes, and on a failing step everything mapped
    /// by this call is unmapped again before the errno returns.
    /// </summary>
    public Errno Map(IommuDomain domain, ulong iova, ulong paddr, ulong size, IommuProt prot)
    {
        ArgumentNullException.ThrowIfNull(domain);
        RunTimers();
        if (domain.Type != IommuDomainType.Paging || domain.Freed)
            return Errno.EINVAL;
        var ops = domain.Ops!;
        ulong bitmap = domain.PageSizeBitmap;
        ulong minPage = bitmap & (0 - bitmap);
        if (((iova | paddr | size) & (minPage - 1)) != 0)
        {
            Log.Unaligned(_logger, iova, paddr, size, minPage);
            return Errno.EINVAL;
        }
        if (size == 0)
            return Errno.Ok;
        if (iova + (size - 1) < iova || paddr + (size - 1) < paddr)
            return Errno.EINVAL;
        // IOVA still in the flush queue may be cached by the IOMMU: flush before reusing it.
        if (domain.FlushQueue is { } queue && queue.Overlaps(iova, size))
        {
            var flushErr = FlushQueue(domain);
            if (flushErr != Errno.Ok)
                return flushErr;
        }

        // One page of a size the table has, both addresses aligned to it: what the split would pick.
        if ((size & (size - 1)) == 0 && (bitmap & size) != 0 && ((iova | paddr) & (size - 1)) == 0)
        {
            var one = ops.MapPages(iova, paddr, size, 1, prot, out ulong mappedOne);
            if (one != Errno.Ok)
                RollBack(ops, bitmap, iova, size, mappedOne, one);
            return one;
        }

        ulong done = 0;
        while (done < size)
        {
            var (pageSize, count) = PageSizeSplit.Pick(bitmap, iova + done, paddr + done, size - done);
            var err = ops.MapPages(iova + done, paddr + done, pageSize, count, prot, out ulong mapped);
            done += mapped;
            if (err != Errno.Ok)
            {
                RollBack(ops, bitmap, iova, size, done, err);
                return err;
            }
        }
        return Errno.Ok;
    }

    private void RollBack(IIommuDomainOps ops, ulong bitmap, ulong iova, ulong size, ulong done, Errno err)
    {
        Log.MapFailed(_logger, iova, size, done, err);
        if (done != 0)
            UnmapStrict(ops, iova, done, bitmap);
    }

    /// <summary>
    /// iommu_unmap: the bytes unmapped from <paramref name="iova"/> on, stopping at the first hole
    /// (0 for a misaligned range or a domain that does not page). A strict domain is flushed
    /// before this returns; a lazy one queues the range and its freed tables.
    /// </summary>
    public ulong Unmap(IommuDomain domain, ulong iova, ulong size) => Unmap(domain, iova, size, release: null);

    /// <summary>
    /// The DMA API (dma_map_page on an IOMMU): maps <paramref name="size"/> bytes at
    /// <paramref name="paddr"/> for the device into IOVA of its default domain. EINVAL when the
    /// device's domain does not translate; ENOSPC when the IOVA space is full.
    /// </summary>
    public Errno DmaMap(ushort deviceId, ulong paddr, ulong size, IommuProt prot, out ulong dmaAddress)
    {
        dmaAddress = 0;
        if (!_groups.TryGetValue(deviceId, out var group))
            return Errno.ENODEV;
        var domain = group.Domain;
        if (domain.Type == IommuDomainType.Identity)
        {
            dmaAddress = paddr;
            return Errno.Ok;
        }
        if (domain.Iovas is not { } iovas)
            return Errno.EINVAL;
        ulong offset = paddr & 0xFFF;
        ulong length = (offset + size + 0xFFF) & ~0xFFFUL;
        var err = iovas.Alloc(length, out ulong iova);
        if (err != Errno.Ok)
            return err;
        err = Map(domain, iova, paddr - offset, length, prot);
        if (err != Errno.Ok)
        {
            iovas.Free(iova);
            return err;
        }
        dmaAddress = iova + offset;
        return Errno.Ok;
    }

    /// <summary>dma_unmap_page: the IOVA is handed back only after the IOTLB no longer holds it.</summary>
    public Errno DmaUnmap(ushort deviceId, ulong dmaAddress, ulong size)
    {
        if (!_groups.TryGetValue(deviceId, out var group))
            return Errno.ENODEV;
        var domain = group.Domain;
        if (domain.Type == IommuDomainType.Identity)
            return Errno.Ok;
        if (domain.Iovas is not { } iovas)
            return Errno.EINVAL;
        ulong iova = dmaAddress & ~0xFFFUL;
        ulong length = ((dmaAddress & 0xFFF) + size + 0xFFF) & ~0xFFFUL;
        if (iovas.SizeOf(iova) < length)
            return Errno.EINVAL;
        Unmap(domain, iova, length, () => iovas.Free(iova));
        return Errno.Ok;
    }

    /// <summary>Flushes a lazy domain's queue now (iommu_dma's fq_flush_timeout, or a sync before reuse).</summary>
    public Errno FlushQueue(IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        return domain.FlushQueue is { } queue ? queue.Flush(domain.Ops!) : Errno.Ok;
    }

    /// <summary>Runs the flush-queue timers that are due on the clock; each core entry runs this first.</summary>
    public void RunTimers()
    {
        // Every entry point runs this: an index loop, and no clock read for an empty queue.
        var domains = _lazyDomains;
        for (int i = 0; i < domains.Count; i++)
        {
            var queue = domains[i].FlushQueue!;
            if (queue.Count != 0)
                queue.FlushIfDue(domains[i].Ops!);
        }
    }

    private ulong Unmap(IommuDomain domain, ulong iova, ulong size, Action? release)
    {
        ArgumentNullException.ThrowIfNull(domain);
        RunTimers();
        if (domain.Type != IommuDomainType.Paging || domain.Freed || size == 0)
            return 0;
        var ops = domain.Ops!;
        ulong bitmap = domain.PageSizeBitmap;
        ulong minPage = bitmap & (0 - bitmap);
        if (((iova | size) & (minPage - 1)) != 0)
        {
            Log.Unaligned(_logger, iova, 0, size, minPage);
            return 0;
        }
        if (domain.FlushQueue is not { } queue)
        {
            ulong done = UnmapStrict(ops, iova, size, bitmap);
            release?.Invoke();
            return done;
        }
        var gather = queue.RentGather();
        ulong unmapped = UnmapPages(ops, iova, size, gather, bitmap);
        if (unmapped == 0 && gather.IsEmpty)
        {
            queue.ReturnGather(gather);
            release?.Invoke();
            return 0;
        }
        queue.Add(ops, iova, Math.Max(unmapped, minPage), gather, release);
        return unmapped;
    }

    private ulong UnmapStrict(IIommuDomainOps ops, ulong iova, ulong size, ulong bitmap)
    {
        var gather = _strictGather;
        ulong done = UnmapPages(ops, iova, size, gather, bitmap);
        ops.IotlbSync(gather);
        // As iommu_iotlb_sync does: the gather starts empty again whatever the driver did with it.
        gather.Reset();
        return done;
    }

    private static ulong UnmapPages(IIommuDomainOps ops, ulong iova, ulong size, IotlbGather gather, ulong bitmap)
    {
        ulong done = 0;
        while (done < size)
        {
            var (pageSize, count) = PageSizeSplit.Pick(bitmap, iova + done, iova + done, size - done);
            ulong unmapped = ops.UnmapPages(iova + done, pageSize, count, gather);
            if (unmapped == 0)
                break;
            done += unmapped;
        }
        return done;
    }

    private Errno SetDomain(IommuGroup group, IommuDomain domain)
    {
        RunTimers();
        if (domain.Freed)
            return Errno.EINVAL;
        if (group.Domain == domain)
            return Errno.Ok;
        var err = _driver.AttachDevice(group.DeviceId, domain.Type, domain.Ops);
        if (err != Errno.Ok)
            return err;
        group.Domain.AttachedDevices--;
        domain.AttachedDevices++;
        group.Domain = domain;
        return Errno.Ok;
    }
}
