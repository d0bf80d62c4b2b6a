namespace Driver.Kernel.Iommu;

/// <summary>The core's boot options.</summary>
public sealed record IommuCoreConfig
{
    /// <summary>iommu.passthrough=1: default domains are identity domains.</summary>
    public bool Passthrough { get; init; }

    /// <summary>iommu.strict: unmap flushes before it returns (true) or through a flush queue (false).</summary>
    public bool Strict { get; init; } = true;

    public int FlushQueueCapacity { get; init; } = FlushQueue.DefaultCapacity;

    public long FlushQueueTimeoutNs { get; init; } = FlushQueue.DefaultTimeoutNs;
}
