using Driver.Hw.Sev;

namespace Driver.Kernel.Psp;

/// <summary>Firmware pages and the page commands: snp_alloc_firmware_page, snp_reclaim_pages, SNP_PAGE_UNSMASH.</summary>
public sealed partial class SevDevice
{
    /// <summary>The proposed IOPDE-smash call of seed 000: an id the published ABI leaves free.</summary>
    public const SevCommandId ProposedIopdeSmashCommand = (SevCommandId)0xE0;

    /// <summary>
    /// rmp_mark_pages_firmware: <paramref name="npages"/> pages from <paramref name="pa"/> become firmware
    /// pages (rmp_make_private at 4K, ASID 0, immutable). When one fails, those already changed are
    /// reclaimed through firmware (leaked if they cannot be) and the RMPUPDATE's errno is returned.
    /// </summary>
    public Errno RmpMarkPagesFirmware(ulong pa, int npages, out SevStatus status)
    {
        lock (_lock)
            return MarkPagesFirmwareLocked(pa, npages, out status);
    }

    private Errno MarkPagesFirmwareLocked(ulong pa, int npages, out SevStatus status)
    {
        status = SevStatus.Success;
        for (int i = 0; i < npages; i++)
        {
            var err = Rmp.RmpMakePrivate(pa + ((ulong)i * PageSize), 0, RmpPageLevel.Level4K, 0, immutable: true, out _);
            if (err != Errno.Ok)
            {
                ReclaimPagesLocked(pa, i, out status);
                return err;
            }
        }
        return Errno.Ok;
    }

    /// <summary>
    /// snp_reclaim_pages: SNP_PAGE_RECLAIM then rmp_make_shared, page by page. At the first failure the
    /// page and all after it are leaked (never given back to the allocator) and its errno returned.
    /// </summary>
    public Errno SnpReclaimPages(ulong pa, int npages, out SevStatus status)
    {
        lock (_lock)
            return ReclaimPagesLocked(pa, npages, out status);
    }

    private Errno ReclaimPagesLocked(ulong pa, int npages, out SevStatus status)
    {
        status = SevStatus.Success;
        for (int i = 0; i < npages; i++)
        {
            ulong page = pa + ((ulong)i * PageSize);
            var err = DoCmdWord(SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(page).Raw, out status);
            if (err != Errno.Ok)
                Log.ReclaimFailed(_logger, page, err, status);
            else
                err = Rmp.RmpMakeShared(page, RmpPageLevel.Level4K, out _);
            if (err != Errno.Ok)
            {
                Rmp.SnpLeakPages(page, npages - i);
                return err;
            }
        }
        return Errno.Ok;
    }

    /// <summary>SNP_PAGE_RECLAIM of one 4 KiB or 2 MiB page, alone (the caller makes it shared).</summary>
    public Errno SnpPageReclaim(ulong pa, RmpPageLevel level, out SevStatus status)
    {
        lock (_lock)
            return DoCmdWord(SevCommandId.SnpPageReclaim,
                new SnpPageReclaimBuffer(0).WithAddress(pa & ~(PageSize - 1)).WithPageSize2M(level == RmpPageLevel.Level2M).Raw, out status);
    }

    /// <summary>
    /// SNP_PAGE_UNSMASH: firmware folds the 512 4 KiB entries of the 2 MiB range at <paramref name="pa"/>
    /// back into one 2 MiB entry (the reverse of PSMASH; they must already share one state).
    /// EINVAL for an address that is not 2 MiB aligned, before firmware sees it.
    /// </summary>
    public Errno SnpPageUnsmash(ulong pa, out SevStatus status)
    {
        status = SevStatus.Success;
        if ((pa & ((1UL << 21) - 1)) != 0)
            return Errno.EINVAL;
        lock (_lock)
            return DoCmdWord(SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(pa).WithPageSize2M(true).Raw, out status);
    }

    /// <summary>
    /// The PROPOSED atomic IOPDE smash of seed 000, not a published AMD command: firmware stalls DMA to
    /// the 2 MiB range the IOPDE at <paramref name="iopdePa"/> maps, swaps it for the table of 512 4 KiB
    /// PTEs at <paramref name="pteTablePa"/> (which the caller filled), smashes the RMP entry and resumes.
    /// EINVAL for a misaligned IOPDE or table, before firmware sees them.
    /// </summary>
    public Errno ProposedIopdeSmash(ulong iopdePa, ulong pteTablePa, out SevStatus status)
    {
        status = SevStatus.Success;
        if ((iopdePa & 7) != 0 || (pteTablePa & (PageSize - 1)) != 0)
            return Errno.EINVAL;
        lock (_lock)
        {
            Log.ProposedIopdeSmash(_logger, iopdePa);
            Span<ulong> buffer = stackalloc ulong[ProposedIopdeSmashBuffer.Words];
            default(ProposedIopdeSmashBuffer).WithIopdeAddress(iopdePa).WithPteTableAddress(pteTablePa).CopyTo(buffer);
            return Checked(ProposedIopdeSmashCommand, DoCmdLocked(ProposedIopdeSmashCommand, buffer, out status), status);
        }
    }

    // snp_alloc_firmware_page: a zeroed page, a firmware page once SNP is up. Not with a dead PSP,
    // which could not take the page back.
    private Errno AllocFirmwarePage(SevCommandId command, out ulong page, out SevStatus status)
    {
        status = SevStatus.Success;
        page = 0;
        if (Mailbox.Dead)
        {
            Log.PspDead(_logger, command);
            return Errno.EBUSY;
        }
        if (!_frames.TryAlloc(out page))
        {
            Log.OutOfMemory(_logger, "a firmware page");
            return Errno.ENOMEM;
        }
        if (!SnpInitialized)
            return Errno.Ok;
        var err = MarkPagesFirmwareLocked(page, 1, out status);
        if (err != Errno.Ok && !Rmp.IsLeaked(page))
            _frames.Free(page);
        return err;
    }

    // snp_free_firmware_page: reclaimed and freed, or leaked.
    private Errno FreeFirmwarePage(ulong page)
    {
        var err = SnpInitialized ? ReclaimPagesLocked(page, 1, out _) : Errno.Ok;
        if (!Rmp.IsLeaked(page))
            _frames.Free(page);
        return err;
    }
}
