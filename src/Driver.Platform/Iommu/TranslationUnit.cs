using System.Numerics;
using Driver.Hw.AmdIommu;
using Driver.Platform.Memory;
using Driver.Platform.Monitors;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Iommu;

/// <summary>
/// Translation of one DMA request: DTE (cached) -> IOTLB -> page walk over AMD
/// v1 tables (PDE cache) -> RMP check when SNP is on -> IOTLB fill. It owns the
/// three caches and the record of completed invalidations that lets the cache
/// monitor tell "not yet flushed" from "flushed and still stale".
/// </summary>
internal sealed class TranslationUnit
{
    private const ulong DteBytes = 32;
    private const int PageShift4K = SnpControls.PageShift4K;
    private const int InvalidationHistory = 64;

    private readonly PhysicalMemory _memory;
    private readonly CostModel _costs;
    private readonly PhysicalLimit _limit;
    private readonly int _deepestMode;
    private readonly bool _haSup;
    private readonly bool _hdSup;
    private readonly EventLog _eventLog;
    private readonly SnpControls _snp;
    private readonly ILogger _logger;
    private readonly DteCache _dteCache;
    private readonly SetAssociativeCache<IotlbTag, IotlbEntry> _iotlb;
    private readonly SetAssociativeCache<PdeTag, PdeEntry> _pdeCache;
    private readonly InvalidationRecord[] _invalidations = new InvalidationRecord[InvalidationHistory];
    private readonly TableChangeRecord _changes = new();
    private int _invalidationCount;

    // Orders cache fills and invalidations for the cache monitor.
    private long _epoch;

    public TranslationUnit(PhysicalMemory memory, CostModel costs, IommuConfig config, PhysicalLimit limit, EventLog eventLog, SnpControls snp, ILogger logger)
    {
        _memory = memory;
        _costs = costs;
        _limit = limit;
        _eventLog = eventLog;
        _snp = snp;
        _logger = logger;
        _haSup = config.Efr.HaSup;
        _hdSup = config.Efr.HdSup;
        _deepestMode = config.Efr.Hats switch
        {
            HostAddressTranslationSize.Level4 => 4,
            HostAddressTranslationSize.Level5 => 5,
            HostAddressTranslationSize.Level6 => 6,
            _ => 0,
        };
        _dteCache = new DteCache(config.DteCacheEntries);
        _iotlb = new(config.IotlbSets, config.IotlbWays);
        _pdeCache = new(config.PdeCacheSets, config.PdeCacheWays);
    }

    /// <summary>Control.IommuEn: off, every request passes untranslated and unchecked.</summary>
    public bool Enabled { get; set; }

    public DeviceTableBaseRegister DeviceTable { get; set; }

    /// <summary>Watches what the IOMMU does for the invariant monitors; null for none (the fast path).</summary>
    public InvariantMonitor? Monitor { get; set; }

    public int IotlbCount => _iotlb.Count;

    public int PdeCacheCount => _pdeCache.Count;

    public int WatchedTableWords => _changes.WatchedWords;

    /// <summary>The next epoch, for a part that orders its own records against fills and invalidations.</summary>
    public long NextEpoch() => ++_epoch;

    /// <summary>The kernel wrote the word at <paramref name="pa"/>; recorded when the monitor says it is a table.</summary>
    public void KernelWrote(ulong pa)
    {
        if (Monitor is { } monitor && monitor.IsTableFrame(pa))
            _changes.Written(pa, ++_epoch);
    }

    /// <summary>A COMPLETION_WAIT posted at <paramref name="postEpoch"/> completed: every table change before it is settled.</summary>
    public void CompletionWaitDone(long postEpoch) => _changes.CompletionWaitDone(postEpoch);

    /// <summary>
    /// Translates a request, logging the event a failure produces. A <paramref name="trusted"/>
    /// request (PCIe T=1) carries the ASID of the guest its TDI is bound to into the RMP check;
    /// under SNP one from a device with no bound TDI is refused at once.
    /// </summary>
    public TranslationResult Translate(ushort deviceId, ulong iova, bool write, bool trusted = false)
    {
        if (!Enabled)
            return Allowed(deviceId, iova, iova, PageShift4K, write, false, 0, 0);
        long cost = 0;
        ushort asid = 0;
        if (trusted && _snp.Enforced)
        {
            asid = _snp.BoundAsid(deviceId);
            if (asid == 0)
                return RmpFault(deviceId, iova, write, _snp.RefuseUnbound(deviceId, iova).Flags, cost);
        }
        bool dteCached = _dteCache.TryGet(deviceId, out var dte, out long dteEpoch);
        if (!dteCached)
        {
            var fetched = FetchDte(deviceId, iova, write, ref cost, out dte);
            if (fetched.HasValue)
                return fetched.Value;
            dteEpoch = ++_epoch;
            _dteCache.Fill(deviceId, dte, dteEpoch);
        }
        if (!dte.Valid)
            return Passthrough(deviceId, iova, write, asid, cost);
        if (!dte.TranslationValid)
            return TranslationResult.Blocked(cost);
        if (dte.Mode == PagingMode.Disabled)
        {
            if (write ? !dte.IoWrite : !dte.IoRead)
                return PageFault(dte, deviceId, iova, write, present: true, permission: true, reserved: false, cost);
            return Passthrough(deviceId, iova, write, asid, cost);
        }

        int line = _iotlb.Find(new IotlbTag(dte.DomainId, iova >> 12));
        if (line >= 0)
        {
            ref readonly var hit = ref _iotlb[line];
            // A write through a line whose PTE is not known dirty walks again, so that the walk sets D.
            if ((write ? hit.Write && (hit.DirtyKnown || !UpdatesDirty(dte)) : hit.Read) && hit.Asid == asid)
            {
                ulong spa = hit.SpaPage | (iova & 0xFFF);
                if (Monitor is null && !_snp.AnyStall)
                    return TranslationResult.Allowed(spa, hit.SizeShift, true, cost);
                return CheckedHit(dte, deviceId, iova, write, spa, hit, Math.Min(hit.Epoch, dteEpoch), cost);
            }
        }
        return WalkAndFill(dte, dteCached, dteEpoch, deviceId, iova, write, asid, cost);
    }

    public void InvalidateDte(ushort deviceId)
    {
        _dteCache.Invalidate(deviceId);
        Record(InvalidationKind.DeviceTableEntry, deviceId, InvalidationRange.All);
    }

    public void InvalidatePages(ushort domainId, InvalidationRange range, bool pde)
    {
        _iotlb.Invalidate(new IotlbEntry.ByIova(domainId, range.First, range.Last));
        if (pde)
            _pdeCache.Invalidate(new PdeEntry.ByIova(domainId, range.First, range.Last));
        Record(InvalidationKind.Pages, domainId, range);
    }

    public void InvalidateAll()
    {
        FlushAll();
        Record(InvalidationKind.All, 0, InvalidationRange.All);
    }

    /// <summary>Drops everything cached, as a change of SNP enforcement does; not an invalidation the driver asked for.</summary>
    public void FlushAll()
    {
        _dteCache.InvalidateAll();
        _iotlb.InvalidateAll();
        _pdeCache.InvalidateAll();
    }

    /// <summary>Drops cached translations into [first, last] of system memory (the RMP changed there).</summary>
    public void InvalidateSpa(ulong first, ulong last) => _iotlb.Invalidate(new IotlbEntry.BySpa(first, last));

    private void Record(InvalidationKind kind, ushort id, InvalidationRange range) =>
        _invalidations[_invalidationCount++ % InvalidationHistory] = new InvalidationRecord(kind, id, range, ++_epoch);

    /// <summary>Whether an invalidation covering (domain, device, IOVA) completed after <paramref name="epoch"/>.</summary>
    private bool InvalidatedSince(long epoch, ushort domainId, ushort deviceId, ulong iova)
    {
        int count = Math.Min(_invalidationCount, InvalidationHistory);
        for (int i = 0; i < count; i++)
        {
            ref readonly var r = ref _invalidations[i];
            if (r.Epoch > epoch && r.Covers(domainId, deviceId, iova))
                return true;
        }
        return false;
    }

    private TranslationResult? FetchDte(ushort deviceId, ulong iova, bool write, ref long cost, out AmdDte dte)
    {
        dte = default;
        ulong dtePa = DteAddress(deviceId);
        if (deviceId >= (DeviceTable.Size + 1u) * 128u || !_limit.Reaches(dtePa, DteBytes))
        {
            var ev = default(DevTabHardwareErrorEvent).WithDeviceId(deviceId).WithWrite(write)
                .WithEventCode(EventCode.DevTabHardwareError).WithAddress(dtePa);
            Log.DevTabHardwareError(_logger, deviceId, dtePa);
            return Failed(TranslationStatus.DeviceTableError, ev.GetWord(0), ev.GetWord(1), cost, log: true);
        }
        cost += _costs.IommuMemoryAccessNs;
        dte = ReadDte(dtePa);
        if (dte.Valid && !WellFormed(dte))
        {
            var ev = default(IllegalDevTableEntryEvent).WithDeviceId(deviceId).WithWrite(write)
                .WithEventCode(EventCode.IllegalDevTableEntry).WithAddress(iova);
            Log.IllegalDevTableEntry(_logger, deviceId, dte);
            return Failed(TranslationStatus.IllegalDte, ev.GetWord(0), ev.GetWord(1), cost, log: true);
        }
        return null;
    }

    private ulong DteAddress(ushort deviceId) => DeviceTable.Base + (deviceId * DteBytes);

    private AmdDte ReadDte(ulong dtePa) =>
        new([_memory.ReadU64(dtePa), _memory.ReadU64(dtePa + 8), _memory.ReadU64(dtePa + 16), _memory.ReadU64(dtePa + 24)]);

    private bool WellFormed(in AmdDte dte) => dte.IsValid && (int)dte.Mode <= _deepestMode;

    private TranslationResult WalkAndFill(in AmdDte dte, bool dteCached, long dteEpoch, ushort deviceId, ulong iova, bool write, ushort asid, long cost)
    {
        long oldestUsed = dteEpoch;
        bool usedPdeCache = false;
        var walk = Walk(dte, deviceId, iova, live: true, ref cost, ref oldestUsed, ref usedPdeCache);
        if (walk.UnreachableTable != 0)
            return PageTableError(dte, deviceId, write, walk.UnreachableTable, cost);
        if (walk.Fault || (write ? !walk.Write : !walk.Read))
            return PageFault(dte, deviceId, iova, write, walk.EntryPresent, !walk.Fault, walk.ReservedBits, cost);

        int entryShift = walk.PageShift;
        if (_snp.Enforced)
        {
            var check = _snp.Check(deviceId, iova, walk.Spa, walk.PageShift, sizeRule: true, ref cost, asid);
            if (check.Refused)
                return RmpFault(deviceId, iova, write, check.Flags, cost);
            entryShift = check.EntryShift;
        }
        if (_snp.AnyStall && _snp.StalledUntil(walk.Spa) is long until)
            return TranslationResult.Stalled(walk.Spa, entryShift, false, cost, until);

        bool dirtyKnown = UpdateAccessedDirty(dte, walk, write, ref cost);
        _iotlb.Fill(new IotlbEntry(dte.DomainId, iova >> 12, (byte)entryShift, walk.Read, walk.Write, walk.Spa & ~0xFFFUL, ++_epoch, asid, dirtyKnown));
        if (Monitor is { } monitor && (usedPdeCache || dteCached))
        {
            // Only the directory levels above the cached PDE's table came from a cache.
            long cachedAt = usedPdeCache ? walk.PdeEpoch : long.MaxValue;
            CompareWithMemory(monitor, dte, deviceId, iova, write, walk.Spa, walk.Read, walk.Write, oldestUsed, cachedAt, walk.PdeNextLevel);
        }
        return Allowed(deviceId, iova, walk.Spa, entryShift, write, false, asid, cost);
    }

    /// <summary>
    /// Walks the v1 tables. <paramref name="live"/> = false is the monitor's
    /// shadow walk: memory only, no caches, no cost, nothing reported; it notes
    /// whether an entry above level <paramref name="cachedAbove"/> has a settled
    /// change after <paramref name="cachedAt"/> (when the translation was cached).
    /// </summary>
    private WalkOutcome Walk(in AmdDte dte, ushort deviceId, ulong iova, bool live, ref long cost, ref long oldestUsed, ref bool usedPdeCache,
        long cachedAt = long.MaxValue, int cachedAbove = 0)
    {
        var result = new WalkOutcome();
        int level = (int)dte.Mode;
        int top = PdeEntry.EntryShift(level) + 9;
        if (top < 64 && (iova >> top) != 0)
        {
            result.Fault = true;
            return result;
        }
        ulong table = dte.HostPageTableRoot;
        bool read = dte.IoRead, writeOk = dte.IoWrite;
        if (live)
        {
            // Resume from the deepest cached directory entry.
            for (int l = 2; l <= level; l++)
            {
                int hit = _pdeCache.Find(PdeTag.Of(dte.DomainId, l, iova));
                if (hit >= 0)
                {
                    ref readonly var pde = ref _pdeCache[hit];
                    if ((iova & SkippedBits(l, pde.NextLevel)) != 0)
                    {
                        result.Fault = true;
                        return result;
                    }
                    table = pde.NextTable;
                    read &= pde.Read;
                    writeOk &= pde.Write;
                    level = pde.NextLevel;
                    usedPdeCache = true;
                    oldestUsed = Math.Min(oldestUsed, pde.Epoch);
                    result.PdeEpoch = pde.Epoch;
                    result.PdeNextLevel = pde.NextLevel;
                    break;
                }
            }
        }
        while (true)
        {
            int shift = PdeEntry.EntryShift(level);
            ulong ptePa = table + (((iova >> shift) & 511) * 8);
            if (!_limit.Reaches(ptePa, sizeof(ulong)))
            {
                result.Fault = true;
                result.UnreachableTable = ptePa;
                return result;
            }
            if (live)
            {
                cost += _costs.IommuMemoryAccessNs;
                if (Monitor is { } monitor)
                {
                    monitor.TableRead(deviceId, iova, table);
                    _changes.Watch(ptePa);
                }
            }
            else if (level > cachedAbove && _changes.SettledChangeSince(ptePa, cachedAt))
            {
                result.SettledChange = true;
            }
            var pte = new AmdV1Pte(_memory.ReadU64(ptePa));
            if (!pte.Present)
            {
                result.Fault = true;
                return result;
            }
            result.EntryPresent = true;
            if (!pte.IsValid)
            {
                result.Fault = result.ReservedBits = true;
                return result;
            }
            read &= pte.IoRead;
            writeOk &= pte.IoWrite;
            int next = pte.NextLevel;
            if (next is 0 or 7)
            {
                int pageShift = shift;
                if (next == 7)
                {
                    // A run of ones from address bit 12 up to the first zero at bit log2(size) - 1.
                    pageShift = BitOperations.TrailingZeroCount(~(pte.Address >> 12)) + 13;
                    if (pageShift <= shift || pageShift >= shift + 9)
                    {
                        result.Fault = result.ReservedBits = true;
                        return result;
                    }
                }
                // Every power of two is a page size except 512 GiB (an erratum).
                if (pageShift == 39)
                {
                    result.Fault = result.ReservedBits = true;
                    return result;
                }
                ulong size = 1UL << pageShift;
                result.LeafPa = ptePa;
                result.LeafRaw = pte.Raw;
                result.Spa = (pte.Address & ~(size - 1)) | (iova & (size - 1));
                result.PageShift = pageShift;
                result.Read = read;
                result.Write = writeOk;
                return result;
            }
            if (next >= level)
            {
                result.Fault = result.ReservedBits = true;
                return result;
            }
            // Skipped levels decode nothing: their IOVA bits must be zero.
            if ((iova & SkippedBits(level, next)) != 0)
            {
                result.Fault = true;
                return result;
            }
            if (live)
                _pdeCache.Fill(new PdeEntry(PdeTag.Of(dte.DomainId, level, iova), pte.Address, (byte)next, read, writeOk, ++_epoch));
            table = pte.Address;
            level = next;
        }
    }

    // DTE.HAD: 01b asks for Accessed updates, 11b for Accessed and Dirty; each needs its EFR bit (HASup, HDSup).
    private bool UpdatesAccessed(in AmdDte dte) => _haSup && (dte.HostAccessDirty & 1) != 0;

    private bool UpdatesDirty(in AmdDte dte) => _hdSup && dte.HostAccessDirty == 3;

    /// <summary>
    /// Host access and dirty tracking: an allowed request sets A in the leaf PTE it was walked to
    /// (the entry its IOVA indexes, also for a replicated leaf), and a write sets D, as one atomic
    /// update of memory. Returns whether the leaf is now known dirty (or needs no D), which the
    /// IOTLB line remembers: a later write through a line that is not walks again.
    /// </summary>
    private bool UpdateAccessedDirty(in AmdDte dte, in WalkOutcome walk, bool write, ref long cost)
    {
        bool dirty = UpdatesDirty(dte);
        if (!dirty && !UpdatesAccessed(dte))
            return true;
        var pte = new AmdV1Pte(walk.LeafRaw);
        var updated = pte;
        if (UpdatesAccessed(dte))
            updated = updated.WithAccessed(true);
        if (dirty && write)
            updated = updated.WithDirty(true);
        if (updated.Raw != pte.Raw)
        {
            cost += _costs.IommuMemoryAccessNs;
            _memory.WriteU64(walk.LeafPa, updated.Raw);
        }
        return !dirty || updated.Dirty;
    }

    // IOVA bits decoded by the levels between a directory at `level` and its next table at `next`.
    private static ulong SkippedBits(int level, int next) =>
        ((1UL << PdeEntry.EntryShift(level)) - 1) & ~((1UL << (PdeEntry.EntryShift(next) + 9)) - 1);

    private TranslationResult Passthrough(ushort deviceId, ulong iova, bool write, ushort asid, long cost)
    {
        int shift = PageShift4K;
        if (_snp.Enforced)
        {
            var check = _snp.Check(deviceId, iova, iova, PageShift4K, sizeRule: false, ref cost, asid);
            if (check.Refused)
                return RmpFault(deviceId, iova, write, check.Flags, cost);
            shift = check.EntryShift;
        }
        if (_snp.AnyStall && _snp.StalledUntil(iova) is long until)
            return TranslationResult.Stalled(iova, shift, false, cost, until);
        return Allowed(deviceId, iova, iova, shift, write, false, asid, cost);
    }

    private TranslationResult CheckedHit(in AmdDte dte, ushort deviceId, ulong iova, bool write, ulong spa, in IotlbEntry hit, long oldestUsed, long cost)
    {
        if (_snp.AnyStall && _snp.StalledUntil(spa) is long until)
            return TranslationResult.Stalled(spa, hit.SizeShift, true, cost, until);
        if (Monitor is { } monitor)
            CompareWithMemory(monitor, dte, deviceId, iova, write, spa, hit.Read, hit.Write, oldestUsed, hit.Epoch, 0);
        return Allowed(deviceId, iova, spa, hit.SizeShift, write, true, hit.Asid, cost);
    }

    /// <summary>
    /// Two rules judge a cached translation that disagrees with memory: an invalidation covering
    /// it completed after it was cached, or a page-table entry it was built from changed after it
    /// was cached (<paramref name="cachedAt"/>, levels above <paramref name="cachedAbove"/>) and a
    /// COMPLETION_WAIT posted after that change completed. Before either, the hardware may still
    /// use what it cached.
    /// </summary>
    private void CompareWithMemory(InvariantMonitor monitor, in AmdDte cachedDte, ushort deviceId, ulong iova, bool write, ulong spa, bool read, bool writeOk,
        long oldestUsed, long cachedAt, int cachedAbove)
    {
        // The base may have moved since the entry was cached: the address is checked again.
        ulong dtePa = DteAddress(deviceId);
        bool agrees, settledChange = false;
        var dte = _limit.Reaches(dtePa, DteBytes) ? ReadDte(dtePa) : default;
        if (!dte.Valid || !dte.TranslationValid || dte.Mode == PagingMode.Disabled || !WellFormed(dte))
        {
            agrees = false;
        }
        else
        {
            long noCost = 0, noEpoch = 0;
            bool noCache = false;
            var fresh = Walk(dte, deviceId, iova, live: false, ref noCost, ref noEpoch, ref noCache, cachedAt, cachedAbove);
            agrees = !fresh.Fault && fresh.Spa == spa && fresh.Read == read && fresh.Write == writeOk;
            settledChange = fresh.SettledChange;
        }
        if (agrees)
            return;
        if (InvalidatedSince(oldestUsed, cachedDte.DomainId, deviceId, iova))
            monitor.StaleTranslation(deviceId, iova, spa, write);
        else if (settledChange)
            monitor.StaleTranslationAfterCompletionWait(deviceId, iova, spa, write);
    }

    private TranslationResult Allowed(ushort deviceId, ulong iova, ulong spa, int shift, bool write, bool fromIotlb, ushort asid, long cost)
    {
        Monitor?.DmaReached(deviceId, iova, spa, write, asid);
        return TranslationResult.Allowed(spa, shift, fromIotlb, cost);
    }

    private TranslationResult PageFault(in AmdDte dte, ushort deviceId, ulong iova, bool write, bool present, bool permission, bool reserved, long cost)
    {
        var ev = default(IoPageFaultDetailEvent).WithDeviceId(deviceId).WithDomainOrPasid(dte.DomainId)
            .WithPresent(present).WithWrite(write).WithPermissionFault(permission).WithReservedBits(reserved)
            .WithEventCode(EventCode.IoPageFault).WithAddress(iova);
        Log.IoPageFault(_logger, deviceId, iova, ev);
        return Failed(TranslationStatus.IoPageFault, ev.GetWord(0), ev.GetWord(1), cost, log: !dte.SuppressAllFaults);
    }

    private TranslationResult PageTableError(in AmdDte dte, ushort deviceId, bool write, ulong address, long cost)
    {
        var ev = default(PageTabHardwareErrorEvent).WithDeviceId(deviceId).WithDomainOrPasid(dte.DomainId).WithWrite(write)
            .WithEventCode(EventCode.PageTabHardwareError).WithAddress(address);
        Log.PageTabHardwareError(_logger, deviceId, address);
        return Failed(TranslationStatus.PageTableError, ev.GetWord(0), ev.GetWord(1), cost, log: true);
    }

    private TranslationResult RmpFault(ushort deviceId, ulong iova, bool write, RmpFaultFlags flags, long cost)
    {
        var ev = default(RmpPageFaultEvent).WithDeviceId(deviceId).WithRmpFlags((byte)flags).WithWrite(write)
            .WithEventCode(EventCode.RmpPageFault).WithGpa(iova);
        return Failed(TranslationStatus.RmpFault, ev.GetWord(0), ev.GetWord(1), cost, log: true);
    }

    private TranslationResult Failed(TranslationStatus status, ulong word0, ulong word1, long cost, bool log)
    {
        if (log)
            _eventLog.Append(word0, word1);
        return TranslationResult.Faulted(status, word0, word1, cost);
    }
}
