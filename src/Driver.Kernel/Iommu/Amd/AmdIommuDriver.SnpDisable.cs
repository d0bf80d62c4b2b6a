using Driver.Hw.Interfaces;

namespace Driver.Kernel.Iommu.Amd;

public sealed partial class AmdIommuDriver
{
    private const ulong SnpPageBytes = 0x1000;
    private const ulong PagesPer2M = 512;
    private const int EventEntryBytes = 16;

    // RMPUPDATE answers OVERLAP while another CPU changes the entry; Linux retries, this bounds it.
    private const int RmpupdateRetries = 1_000;

    /// <summary>
    /// The 4 KiB pages firmware takes over at SNP_INIT and leaves in the Reclaim state at
    /// SNP_SHUTDOWN_EX: the event log and the completion-wait semaphore's page (no PPR log here).
    /// </summary>
    public IReadOnlyList<ulong> SnpPages()
    {
        if (!Initialized)
            return [];
        var pages = new List<ulong>();
        ulong bytes = (ulong)EventEntryBytes << Config.EventLogLengthLg2;
        for (ulong offset = 0; offset < bytes; offset += SnpPageBytes)
            pages.Add(EventLogPa + offset);
        pages.Add(CommandQueue.SemaphorePa & ~(SnpPageBytes - 1));
        return pages;
    }

    /// <summary>
    /// amd_iommu_snp_disable, called after SNP_SHUTDOWN_EX: every page of <see cref="SnpPages"/> is
    /// made a 4 KiB hypervisor (shared) page again (iommu_page_make_shared). A page at a 2 MiB
    /// boundary is looked up first: not assigned is EINVAL, a 2 MiB entry is PSMASHed. Ok at once
    /// when SNP was never enabled. The first page that fails stops the walk with its errno (EFAULT
    /// for a failed RMPUPDATE, as rmp_make_shared; PSMASH's result mapped as the RMP helpers map it);
    /// the pages before it stay shared.
    /// </summary>
    public Errno SnpDisable()
    {
        lock (_lock)
        {
            if (!SnpEnabled)
                return Errno.Ok;
            if (_cpu is null)
            {
                Log.SnpNoCpu(_logger);
                return Errno.ENODEV;
            }
            var pages = SnpPages();
            foreach (ulong page in pages)
            {
                var err = MakeShared(_cpu, page);
                if (err != Errno.Ok)
                    return err;
            }
            Log.SnpDisabled(_logger, pages.Count);
            return Errno.Ok;
        }
    }

    private Errno MakeShared(ISnpCpu cpu, ulong pa)
    {
        ulong pfn = pa / SnpPageBytes;
        if (pfn % PagesPer2M == 0)
        {
            if (!cpu.Rmpread(pa, out var entry, out bool is2M))
            {
                Log.SnpRmpLookupFailed(_logger, pfn);
                return Errno.EFAULT;
            }
            if (!entry.Assigned)
            {
                Log.SnpPageNotAssigned(_logger, pfn);
                return Errno.EINVAL;
            }
            if (is2M)
            {
                var smashed = cpu.Psmash(pa);
                if (smashed != PsmashResult.Success)
                {
                    Log.SnpPsmashFailed(_logger, pfn, smashed);
                    return smashed switch
                    {
                        PsmashResult.Permission => Errno.EPERM,
                        PsmashResult.InUse => Errno.EBUSY,
                        _ => Errno.EINVAL,
                    };
                }
            }
        }
        // rmp_make_shared(pfn, PG_LEVEL_4K): a zeroed 4 KiB entry, OVERLAP retried.
        var shared = new RmpUpdateArgs(0, false, false, false, 0);
        var result = RmpUpdateResult.Overlap;
        for (int attempt = 0; attempt < RmpupdateRetries && result == RmpUpdateResult.Overlap; attempt++)
            result = cpu.Rmpupdate(pa, shared);
        if (result == RmpUpdateResult.Success)
            return Errno.Ok;
        Log.SnpRmpupdateFailed(_logger, pfn, result);
        return Errno.EFAULT;
    }
}
