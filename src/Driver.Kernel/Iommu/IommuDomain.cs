namespace Driver.Kernel.Iommu;

/// <summary>
/// A domain as the core hands it out (Linux struct iommu_domain): its kind, the driver's ops
/// for a paging domain, how its unmaps are flushed, and the devices attached to it.
/// </summary>
public sealed class IommuDomain
{
    internal IommuDomain(IommuDomainType type, IIommuDomainOps? ops, FlushQueue? flushQueue)
    {
        Type = type;
        Ops = ops;
        FlushQueue = flushQueue;
        PageSizeBitmap = ops?.PageSizeBitmap ?? 0;
    }

    public IommuDomainType Type { get; }

    /// <summary>The driver's page table; null for identity and blocked domains.</summary>
    public IIommuDomainOps? Ops { get; }

    /// <summary>Lazy invalidation's queue; null for a strict domain.</summary>
    public FlushQueue? FlushQueue { get; }

    public bool IsStrict => FlushQueue is null;

    /// <summary>The page sizes of the table, read once when the domain is made (Linux domain->pgsize_bitmap).</summary>
    public ulong PageSizeBitmap { get; }

    /// <summary>Devices whose group is attached here.</summary>
    public int AttachedDevices { get; internal set; }

    internal IovaAllocator? Iovas { get; set; }

    internal bool Freed { get; set; }
}
