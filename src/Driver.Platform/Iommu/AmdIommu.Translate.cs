using System.Numerics;
using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Platform.Iommu;

/// <summary>
/// Translation of one DMA request: DTE (cached) -> IOTLB -> page walk over AMD
/// v1 tables (PDE cache) -> RMP check when SNP is on -> IOTLB fill.
/// </summary>
public sealed partial class AmdIommu
{
    private const ulong DteBytes = 32;
    private const int PageShift4K = 12;

    /// <summary>
    /// Translates a request of <paramref name="deviceId"/> at <paramref name="iova"/>,
    /// logging the event a failure produces.
    /// </summary>
    public TranslationResult Translate(ushort deviceId, ulong iova, bool write)
    {
        if (!_control.IommuEn)
            return Allowed(deviceId, iova, iova, PageShift4K, write, false, 0);
        long cost = 0;
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
            return Passthrough(deviceId, iova, write, cost);
        if (!dte.TranslationValid)
            return new TranslationResult(TranslationStatus.Blocked, 0, 0, false, cost, 0, 0, 0);
        if (dte.Mode == PagingMode.Disabled)
        {
            if (write ? !dte.IoWrite : !dte.IoRead)
                return PageFault(dte, deviceId, iova, write, present: true, permission: true, reserved: false, cost);
            return Passthrough(deviceId, iova, write, cost);
        }

        int line = _iotlb.Find(dte.DomainId, iova >> 12);
        if (line >= 0)
        {
            ref readonly var hit = ref _iotlb[line];
            if (write ? hit.Write : hit.Read)
            {
                ulong spa = hit.SpaPage | (iova & 0xFFF);
                if (Monitor is null && _stalls.Count == 0)
                    return new TranslationResult(TranslationStatus.Ok, spa, hit.SizeShift, true, cost, 0, 0, 0);
                return CheckedHit(dte, deviceId, iova, write, spa, hit, Math.Min(hit.Epoch, dteEpoch), cost);
            }
        }
        return WalkAndFill(dte, dteCached, dteEpoch, deviceId, iova, write, cost);
    }

    private TranslationResult? FetchDte(ushort deviceId, ulong iova, bool write, ref long cost, out AmdDte dte)
    {
        dte = default;
        ulong dtePa = _devTab.Base + deviceId * DteBytes;
        if (deviceId >= (_devTab.Size + 1u) * 128u || dtePa + DteBytes > IPhysicalMemory.Limit)
        {
            var ev = default(DevTabHardwareErrorEvent).WithDeviceId(deviceId).WithWrite(write)
                .WithEventCode(EventCode.DevTabHardwareError).WithAddress(dtePa);
            return Failed(TranslationStatus.DeviceTableError, ev.GetWord(0), ev.GetWord(1), cost, log: true);
        }
        cost += _costs.IommuMemoryAccessNs;
        dte = new AmdDte([_memory.ReadU64(dtePa), _memory.ReadU64(dtePa + 8), _memory.ReadU64(dtePa + 16), _memory.ReadU64(dtePa + 24)]);
        if (dte.Valid && !WellFormed(dte))
        {
            var ev = default(IllegalDevTableEntryEvent).WithDeviceId(deviceId).WithWrite(write)
                .WithEventCode(EventCode.IllegalDevTableEntry).WithAddress(iova);
            return Failed(TranslationStatus.IllegalDte, ev.GetWord(0), ev.GetWord(1), cost, log: true);
        }
        return null;
    }

    private bool WellFormed(in AmdDte dte)
    {
        if (!dte.IsValid)
            return false;
        int deepest = _efr.Hats switch
        {
            HostAddressTranslationSize.Level4 => 4,
            HostAddressTranslationSize.Level5 => 5,
            HostAddressTranslationSize.Level6 => 6,
            _ => 0,
        };
        return (int)dte.Mode <= deepest;
    }

    private TranslationResult WalkAndFill(in AmdDte dte, bool dteCached, long dteEpoch, ushort deviceId, ulong iova, bool write, long cost)
    {
        long oldestUsed = dteEpoch;
        bool usedPdeCache = false;
        var walk = Walk(dte, deviceId, iova, live: true, ref cost, ref oldestUsed, ref usedPdeCache);
        if (walk.Fault || (write ? !walk.Write : !walk.Read))
            return PageFault(dte, deviceId, iova, write, walk.EntryPresent, !walk.Fault, walk.ReservedBits, cost);

        int entryShift = walk.PageShift;
        if (SnpEnforced)
        {
            var check = RmpCheck(walk.Spa, walk.PageShift, sizeRule: true, ref cost);
            if (check.Refused)
                return RmpFault(deviceId, iova, write, check.Flags, cost);
            entryShift = check.EntryShift;
        }
        if (_stalls.Count != 0 && StalledUntil(walk.Spa) is long until)
            return new TranslationResult(TranslationStatus.Stalled, walk.Spa, entryShift, false, cost, 0, 0, until);

        _iotlb.Fill(new IotlbEntry
        {
            Present = true,
            DomainId = dte.DomainId,
            DeviceId = deviceId,
            SizeShift = (byte)entryShift,
            Read = walk.Read,
            Write = walk.Write,
            Vpn = iova >> 12,
            SpaPage = walk.Spa & ~0xFFFUL,
            Epoch = ++_epoch,
        });
        if (Monitor is { } monitor && (usedPdeCache || dteCached))
            CompareWithMemory(monitor, dte, deviceId, iova, write, walk.Spa, walk.Read, walk.Write, oldestUsed);
        return Allowed(deviceId, iova, walk.Spa, entryShift, write, false, cost);
    }

    /// <summary>
    /// Walks the v1 tables. <paramref name="live"/> = false is the monitor's
    /// shadow walk: memory only, no caches, no cost, nothing reported.
    /// </summary>
    private WalkOutcome Walk(in AmdDte dte, ushort deviceId, ulong iova, bool live, ref long cost, ref long oldestUsed, ref bool usedPdeCache)
    {
        var result = new WalkOutcome();
        int level = (int)dte.Mode;
        int top = PdeCache.EntryShift(level) + 9;
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
                if (_pdeCache.TryGet(dte.DomainId, l, iova, out var pde))
                {
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
                    break;
                }
            }
        }
        while (true)
        {
            int shift = PdeCache.EntryShift(level);
            ulong ptePa = table + ((iova >> shift) & 511) * 8;
            if (live)
            {
                cost += _costs.IommuMemoryAccessNs;
                Monitor?.TableRead(deviceId, iova, table);
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
                _pdeCache.Fill(dte.DomainId, level, iova, new PdeCacheHit(pte.Address, (byte)next, read, writeOk, ++_epoch));
            table = pte.Address;
            level = next;
        }
    }

    // IOVA bits decoded by the levels between a directory at `level` and its next table at `next`.
    private static ulong SkippedBits(int level, int next) =>
        ((1UL << PdeCache.EntryShift(level)) - 1) & ~((1UL << (PdeCache.EntryShift(next) + 9)) - 1);

    private TranslationResult Passthrough(ushort deviceId, ulong iova, bool write, long cost)
    {
        int shift = PageShift4K;
        if (SnpEnforced)
        {
            var check = RmpCheck(iova, PageShift4K, sizeRule: false, ref cost);
            if (check.Refused)
                return RmpFault(deviceId, iova, write, check.Flags, cost);
            shift = check.EntryShift;
        }
        if (_stalls.Count != 0 && StalledUntil(iova) is long until)
            return new TranslationResult(TranslationStatus.Stalled, iova, shift, false, cost, 0, 0, until);
        return Allowed(deviceId, iova, iova, shift, write, false, cost);
    }

    private TranslationResult CheckedHit(in AmdDte dte, ushort deviceId, ulong iova, bool write, ulong spa, in IotlbEntry hit, long oldestUsed, long cost)
    {
        if (_stalls.Count != 0 && StalledUntil(spa) is long until)
            return new TranslationResult(TranslationStatus.Stalled, spa, hit.SizeShift, true, cost, 0, 0, until);
        if (Monitor is { } monitor)
            CompareWithMemory(monitor, dte, deviceId, iova, write, spa, hit.Read, hit.Write, oldestUsed);
        return Allowed(deviceId, iova, spa, hit.SizeShift, write, true, cost);
    }

    private void CompareWithMemory(Monitors.InvariantMonitor monitor, in AmdDte cachedDte, ushort deviceId, ulong iova, bool write, ulong spa, bool read, bool writeOk, long oldestUsed)
    {
        ulong dtePa = _devTab.Base + deviceId * DteBytes;
        var dte = new AmdDte([_memory.ReadU64(dtePa), _memory.ReadU64(dtePa + 8), _memory.ReadU64(dtePa + 16), _memory.ReadU64(dtePa + 24)]);
        bool agrees;
        if (!dte.Valid || !dte.TranslationValid || dte.Mode == PagingMode.Disabled || !WellFormed(dte))
        {
            agrees = false;
        }
        else
        {
            long noCost = 0, noEpoch = 0;
            bool noCache = false;
            var fresh = Walk(dte, deviceId, iova, live: false, ref noCost, ref noEpoch, ref noCache);
            agrees = !fresh.Fault && fresh.Spa == spa && fresh.Read == read && fresh.Write == writeOk;
        }
        if (!agrees && InvalidatedSince(oldestUsed, cachedDte.DomainId, deviceId, iova))
            monitor.StaleTranslation(deviceId, iova, spa, write);
    }

    private TranslationResult Allowed(ushort deviceId, ulong iova, ulong spa, int shift, bool write, bool fromIotlb, long cost)
    {
        Monitor?.DmaReached(deviceId, iova, spa, write);
        return new TranslationResult(TranslationStatus.Ok, spa, shift, fromIotlb, cost, 0, 0, 0);
    }

    private TranslationResult PageFault(in AmdDte dte, ushort deviceId, ulong iova, bool write, bool present, bool permission, bool reserved, long cost)
    {
        var ev = default(IoPageFaultDetailEvent).WithDeviceId(deviceId).WithDomainOrPasid(dte.DomainId)
            .WithPresent(present).WithWrite(write).WithPermissionFault(permission).WithReservedBits(reserved)
            .WithEventCode(EventCode.IoPageFault).WithAddress(iova);
        return Failed(TranslationStatus.IoPageFault, ev.GetWord(0), ev.GetWord(1), cost, log: !dte.SuppressAllFaults);
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
            LogEvent(word0, word1);
        return new TranslationResult(status, 0, 0, false, cost, word0, word1, 0);
    }
}
