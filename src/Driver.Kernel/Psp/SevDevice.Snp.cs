using Driver.Hw.Sev;

namespace Driver.Kernel.Psp;

/// <summary>The SNP platform: bring-up, status and shutdown, in the order of __sev_snp_init_locked and __sev_snp_shutdown_locked.</summary>
public sealed partial class SevDevice
{
    /// <summary>Set between a successful <see cref="SnpInit"/> and <see cref="SnpShutdown"/>.</summary>
    public bool SnpInitialized { get; private set; }

    /// <summary>
    /// Brings SNP up: the IOMMU's precondition (its errno when it fails, and SNP_INIT is not sent),
    /// SNP_INIT_EX initialising the RMP, then SNP_DF_FLUSH to prepare the first guest launch, as Linux
    /// does. Ok at once when already up. A firmware refusal is EIO with its status; the platform stays down.
    /// </summary>
    public Errno SnpInit(out SevStatus status)
    {
        lock (_lock)
        {
            status = SevStatus.Success;
            if (!Probed)
                return Errno.ENODEV;
            if (SnpInitialized)
                return Errno.Ok;
            var err = _iommu.SnpEnable();
            if (err != Errno.Ok)
            {
                Log.IommuNotReady(_logger, err);
                return err;
            }
            Span<ulong> init = stackalloc ulong[SnpInitExBuffer.Words];
            default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(Config.Tio).CopyTo(init);
            err = Checked(SevCommandId.SnpInitEx, DoCmdLocked(SevCommandId.SnpInitEx, init, out status), status);
            if (err != Errno.Ok)
                return err;
            SnpInitialized = true;
            err = Checked(SevCommandId.SnpDfFlush, DoCmdLocked(SevCommandId.SnpDfFlush, [], out status), status);
            if (err != Errno.Ok)
                return err;
            if (PlatformStatusLocked(out var platform, out _) == Errno.Ok)
                Log.SnpInitialized(_logger, platform.ApiMajor, platform.ApiMinor, platform.BuildId);
            return Errno.Ok;
        }
    }

    /// <summary>
    /// SNP_PLATFORM_STATUS: firmware writes the answer into a page of its own (made a firmware page
    /// first once SNP is up, reclaimed after, leaked if it cannot be), copied out into <paramref name="platform"/>.
    /// </summary>
    public Errno SnpPlatformStatus(out SnpPlatformStatusBuffer platform, out SevStatus status)
    {
        lock (_lock)
            return PlatformStatusLocked(out platform, out status);
    }

    private Errno PlatformStatusLocked(out SnpPlatformStatusBuffer platform, out SevStatus status)
    {
        platform = default;
        status = SevStatus.Success;
        if (!Probed)
            return Errno.ENODEV;
        var err = AllocFirmwarePage(SevCommandId.SnpPlatformStatus, out ulong page, out status);
        if (err != Errno.Ok)
            return err;
        err = DoCmdWord(SevCommandId.SnpPlatformStatus, page, out status);
        if (err == Errno.Ok)
        {
            Span<ulong> words = stackalloc ulong[SnpPlatformStatusBuffer.Words];
            for (int i = 0; i < words.Length; i++)
                words[i] = _memory.ReadU64(page + ((ulong)i * sizeof(ulong)));
            platform = new SnpPlatformStatusBuffer(words);
        }
        var freed = FreeFirmwarePage(page);
        return err != Errno.Ok ? err : freed;
    }

    /// <summary>
    /// SNP_SHUTDOWN_EX with the IOMMU's SNP mode turned off too. DFFLUSH_REQUIRED is answered with
    /// SNP_DF_FLUSH and one retry, as Linux does. Afterwards the IOMMU driver makes the pages firmware
    /// left in the Reclaim state shared again (<see cref="IIommuSnp.SnpDisable"/>); its errno when that
    /// fails, with SNP still marked up so that a second call finishes it. Ok at once when SNP is not up.
    /// </summary>
    public Errno SnpShutdown(out SevStatus status)
    {
        lock (_lock)
        {
            status = SevStatus.Success;
            if (!SnpInitialized)
                return Errno.Ok;
            Span<ulong> shutdown = [default(SnpShutdownExBuffer).WithLength(8).WithIommuSnpShutdown(true).Raw];
            var err = DoCmdLocked(SevCommandId.SnpShutdownEx, shutdown, out status);
            if (err == Errno.EIO && status == SevStatus.DfflushRequired)
            {
                Log.DfFlushRetry(_logger);
                Checked(SevCommandId.SnpDfFlush, DoCmdLocked(SevCommandId.SnpDfFlush, [], out var flush), flush);
                shutdown[0] = default(SnpShutdownExBuffer).WithLength(8).WithIommuSnpShutdown(true).Raw;
                err = DoCmdLocked(SevCommandId.SnpShutdownEx, shutdown, out status);
            }
            err = Checked(SevCommandId.SnpShutdownEx, err, status);
            if (err != Errno.Ok)
                return err;
            // amd_iommu_snp_disable: the IOMMU's pages back to the hypervisor. On failure SNP stays
            // marked up, as Linux leaves snp_initialized, so that a second shutdown finishes it.
            err = _iommu.SnpDisable();
            if (err != Errno.Ok)
            {
                Log.IommuSnpShutdownFailed(_logger, err);
                return err;
            }
            SnpInitialized = false;
            Log.SnpShutDown(_logger, _iommu.SnpPages().Count);
            return Errno.Ok;
        }
    }

    private Errno Checked(SevCommandId command, Errno err, SevStatus status)
    {
        if (err != Errno.Ok)
            Log.SnpCommandError(_logger, command, err, status);
        return err;
    }
}
