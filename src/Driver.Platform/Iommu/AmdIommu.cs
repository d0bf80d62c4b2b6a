using Driver.Platform.Bus;
using Driver.Platform.Memory;
using Driver.Platform.Monitors;
using Driver.Platform.Snp;
using Driver.Platform.Time;

namespace Driver.Platform.Iommu;

/// <summary>
/// The AMD IOMMU device model. The kernel programs it only as Linux programs
/// the real one: registers through MMIO, the device table, page tables and the
/// command ring in memory, the event log read back from memory. The command
/// processor is an event source on the clock, so commands take simulated time
/// after the tail write. Unlike QEMU it keeps the caches real hardware has (DTE
/// cache, PDE cache, IOTLB), so a driver that forgets an invalidation sees
/// stale translations, as it would on a real machine.
/// </summary>
public sealed partial class AmdIommu : IMmioDevice, IEventSource
{
    private readonly PhysicalMemory _memory;
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly IommuConfig _config;
    private readonly RmpTable? _rmp;
    private readonly DteCache _dteCache;
    private readonly Iotlb _iotlb;
    private readonly PdeCache _pdeCache;

    public AmdIommu(PhysicalMemory memory, Scheduler scheduler, CostModel costs, IommuConfig config, RmpTable? rmp = null)
    {
        _memory = memory;
        _scheduler = scheduler;
        _costs = costs;
        _config = config;
        _rmp = rmp;
        _dteCache = new DteCache(config.DteCacheEntries);
        _iotlb = new Iotlb(config.IotlbSets, config.IotlbWays);
        _pdeCache = new PdeCache(config.PdeCacheSets, config.PdeCacheWays);
        _efr = config.Efr;
        _efr2 = config.Efr2;
        if (rmp is not null)
            rmp.Changed += (first, last) => _iotlb.InvalidateSpa(first, last);
    }

    /// <summary>Watches what the IOMMU does for the invariant monitors; null for none (the fast path).</summary>
    public InvariantMonitor? Monitor { get; set; }

    public IommuConfig Config => _config;

    /// <summary>Interrupts raised (event log, completion wait).</summary>
    public long InterruptCount { get; private set; }

    /// <summary>Raised with every interrupt the IOMMU signals.</summary>
    public event Action? Interrupt;

    /// <summary>Commands executed so far.</summary>
    public long CommandsExecuted { get; private set; }

    /// <summary>Events written to the log, and events lost because it was off, stopped or full.</summary>
    public long EventsLogged { get; private set; }

    public long EventsDropped { get; private set; }

    /// <summary>Lines in the IOTLB and PDE cache (for tests and statistics).</summary>
    public int IotlbCount => _iotlb.Count;

    public int PdeCacheCount => _pdeCache.Count;

    /// <summary>True while firmware has SNP enforcement on: every DMA is checked against the RMP.</summary>
    public bool SnpEnforced { get; private set; }

    /// <summary>True while firmware has locked the configuration registers.</summary>
    public bool ConfigLocked { get; private set; }

    private void RaiseInterrupt()
    {
        InterruptCount++;
        Interrupt?.Invoke();
    }
}
