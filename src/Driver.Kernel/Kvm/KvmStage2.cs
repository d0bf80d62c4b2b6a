using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A VM's stage-2 (nested, NPT) page table: guest-physical to system-physical, in the x86-64 format,
/// built on iommupt's generic table (<see cref="IommuPageTable{TFormat}"/> with <see cref="X86Format"/>),
/// with 4K and 2M leaves. How it differs from Linux's TDP MMU:
/// <list type="bullet">
/// <item>One lock (mmu_lock taken for write) serialises faults and zaps; Linux's TDP MMU faults under
/// mmu_lock for read with atomic SPTE updates and RCU-freed tables.</item>
/// <item>No rmap and no shadow paging: only direct guest_memfd-backed memory is mapped. Zaps find their
/// leaves in a per-2M index of what was mapped (and whether it maps private memory), not by walking.</item>
/// <item>No accessed/dirty harvesting, no dirty logging, no aging for MMU notifiers, no MMIO SPTEs.</item>
/// <item>Splitting a 2M leaf is iommupt's hitless Cut, and a 2M leaf over existing 4K leaves is made by
/// filling the range and iommupt's Merge (Linux replaces the child table with the huge SPTE).</item>
/// <item>Private and shared memory share the one root, as on SNP (TDX's mirror root is not modelled).</item>
/// </list>
/// </summary>
public sealed class KvmStage2
{
    private const int HugeOrder = 9;
    private const ulong Size2M = 1UL << 21;
    private const IommuProt Prot = IommuProt.Read | IommuProt.Write;

    private readonly IommuPageTable<X86Format> _table;
    private readonly KvmTlbFlusher _flusher;
    private readonly ILogger _logger;
    private readonly Lock _mmuLock = new();
    private readonly Dictionary<ulong, Stage2Block> _blocks = [];
    private bool _destroyed;

    private KvmStage2(IommuPageTable<X86Format> table, KvmTlbFlusher flusher, ILogger logger)
    {
        _table = table;
        _flusher = flusher;
        _logger = logger;
    }

    /// <summary>A four-level table with 4K and 2M leaves over 48 bits of guest-physical space; ENOMEM without a root.</summary>
    public static Errno Create(IPhysicalMemory memory, IFrameAllocator frames, ILoggerFactory? loggerFactory, out KvmStage2? stage2)
    {
        stage2 = null;
        var flusher = new KvmTlbFlusher();
        var config = new PtConfig { TopLevel = 3, VaBits = 48, PageSizes = (1UL << 12) | (1UL << 21) };
        Errno e = IommuPageTable<X86Format>.Init(config, memory, frames, flusher, out IommuPageTable<X86Format>? table, loggerFactory);
        if (e != Errno.Ok)
            return e;
        stage2 = new KvmStage2(table!, flusher, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Kvm.KvmStage2"));
        return Errno.Ok;
    }

    /// <summary>The root table (the VMCB's nCR3).</summary>
    public ulong RootPa => _table.TopPa;

    /// <summary>Stage-2 TLB flushes asked for so far.</summary>
    public long TlbFlushes => _flusher.Flushes;

    /// <summary>Guest pages mapped (a 2M leaf counts 512).</summary>
    public long MappedPages
    {
        get
        {
            lock (_mmuLock)
                return _blocks.Values.Sum(b => b.Huge ? SnpGuestMemfdArch.PagesPer2M : (long)b.SmallCount);
        }
    }

    /// <summary>The leaf that maps guest frame <paramref name="gfn"/>: its frame for that gfn, its order, whether it maps private memory.</summary>
    public bool TryLookup(ulong gfn, out ulong pfn, out int order, out bool isPrivate)
    {
        lock (_mmuLock)
            return LookupLocked(gfn, out pfn, out order, out isPrivate);
    }

    private bool LookupLocked(ulong gfn, out ulong pfn, out int order, out bool isPrivate)
    {
        pfn = 0;
        order = 0;
        isPrivate = false;
        if (_destroyed || !_blocks.TryGetValue(gfn >> HugeOrder, out Stage2Block? block) || !block.IsMapped(Offset(gfn)))
            return false;
        if (!_table.TryLookup(gfn << Page.Shift, out PtEntryInfo entry))
            throw new InvalidOperationException($"BUG: stage-2 index and table disagree at gfn 0x{gfn:x}");
        pfn = (entry.Oa + ((gfn << Page.Shift) - entry.Iova)) >> Page.Shift;
        order = entry.SizeLg2 - Page.Shift;
        isPrivate = block.IsPrivate(Offset(gfn));
        return true;
    }

    /// <summary>
    /// Maps <paramref name="gfn"/> (aligned to the order) to <paramref name="pfn"/> at order 0 or 9. A 4K leaf
    /// already there is kept; a 2M map over 4K leaves fills the range linearly and merges it. ENOMEM with the
    /// table as it was; EEXIST when another translation is in the way; EAGAIN when <paramref name="slot"/>
    /// has an invalidation of the gfn in progress or one ended since the fault read <paramref name="sequence"/>.
    /// </summary>
    internal Errno Map(ulong gfn, ulong pfn, int order, bool isPrivate, KvmMemorySlot? slot = null, long sequence = 0)
    {
        lock (_mmuLock)
        {
            if (_destroyed)
                return Errno.EFAULT;
            if (slot?.MustRetry(gfn, sequence) == true)
                return Errno.EAGAIN;
            ulong key = gfn >> HugeOrder;
            _blocks.TryGetValue(key, out Stage2Block? block);
            if (block?.Huge == true)
                return Errno.Ok;
            if (order < HugeOrder)
            {
                if (block?.IsMapped(Offset(gfn)) == true)
                    return Errno.Ok;
                Errno e = MapOne(gfn, pfn, 0);
                if (e != Errno.Ok)
                    return e;
                block ??= Add(key);
                block.SetSmall(Offset(gfn), isPrivate);
                return Errno.Ok;
            }
            ulong headGfn = gfn & ~(ulong)(SnpGuestMemfdArch.PagesPer2M - 1);
            ulong headPfn = pfn & ~(ulong)(SnpGuestMemfdArch.PagesPer2M - 1);
            if (block is null || !block.HasTable)
            {
                Errno e = MapOne(headGfn, headPfn, HugeOrder);
                if (e != Errno.Ok)
                    return e;
                (block ?? Add(key)).SetHuge(isPrivate);
                return Errno.Ok;
            }
            return FillAndMerge(block, headGfn, headPfn, isPrivate);
        }
    }

    // Linux puts the huge SPTE in place of the child table; here the table is filled and merged, hitlessly.
    private Errno FillAndMerge(Stage2Block block, ulong headGfn, ulong headPfn, bool isPrivate)
    {
        for (int i = 0; i < SnpGuestMemfdArch.PagesPer2M; i++)
        {
            if (block.IsMapped(i))
            {
                if (!LookupLocked(headGfn + (ulong)i, out ulong mappedPfn, out _, out _) || mappedPfn != headPfn + (ulong)i)
                    return Errno.EEXIST;
                continue;
            }
            Errno e = MapOne(headGfn + (ulong)i, headPfn + (ulong)i, 0);
            if (e != Errno.Ok)
                return e;
            block.SetSmall(i, isPrivate);
        }
        Errno merged = _table.Merge(headGfn << Page.Shift, Size2M);
        if (merged != Errno.Ok)
            return merged;
        if (!_table.TryLookup(headGfn << Page.Shift, out PtEntryInfo entry) || entry.SizeLg2 != 21)
            return Errno.EEXIST;
        block.SetHuge(isPrivate);
        Log.Stage2Merged(_logger, headGfn);
        return Errno.Ok;
    }

    private Errno MapOne(ulong gfn, ulong pfn, int order)
    {
        ulong size = 1UL << (order + Page.Shift);
        Errno e = _table.MapPages(gfn << Page.Shift, pfn << Page.Shift, size, 1, Prot, out _);
        return e == Errno.EADDRINUSE ? Errno.EEXIST : e;
    }

    /// <summary>
    /// Zaps the leaves of [<paramref name="firstGfn"/>, <paramref name="endGfn"/>) that map private memory
    /// (<paramref name="which"/> = <see cref="Stage2Zap.Private"/>), shared memory, or all; a 2M leaf only
    /// partly in the range or partly matching is cut to 4K first. One flush for the whole range.
    /// </summary>
    internal Errno Zap(ulong firstGfn, ulong endGfn, Stage2Zap which, out long zapped)
    {
        zapped = 0;
        if (firstGfn >= endGfn)
            return Errno.Ok;
        lock (_mmuLock)
        {
            if (_destroyed)
                return Errno.Ok;
            var gather = new IotlbGather();
            Errno result = Errno.Ok;
            ulong lastKey = (endGfn - 1) >> HugeOrder;
            foreach (ulong key in KeysIn(firstGfn >> HugeOrder, lastKey))
            {
                Stage2Block block = _blocks[key];
                ulong head = key << HugeOrder;
                int from = (int)(Math.Max(firstGfn, head) - head);
                int to = (int)(Math.Min(endGfn, head + SnpGuestMemfdArch.PagesPer2M) - head);
                if (block.Huge)
                {
                    if (!Matches(block.HugePrivate, which))
                        continue;
                    if (from == 0 && to == SnpGuestMemfdArch.PagesPer2M)
                    {
                        result = Unmap(head, SnpGuestMemfdArch.PagesPer2M, gather);
                        if (result != Errno.Ok)
                            break;
                        block.ClearHuge();
                        zapped += SnpGuestMemfdArch.PagesPer2M;
                        Forget(key, block);
                        continue;
                    }
                    result = _table.Cut((head + (ulong)(from == 0 ? to : from)) << Page.Shift);
                    if (result != Errno.Ok)
                        break;
                    block.SplitHuge();
                    Log.Stage2Split(_logger, head);
                }
                for (int i = from; i < to;)
                {
                    if (!block.IsMapped(i) || !Matches(block.IsPrivate(i), which))
                    {
                        i++;
                        continue;
                    }
                    int run = 1;
                    while (i + run < to && block.IsMapped(i + run) && Matches(block.IsPrivate(i + run), which))
                        run++;
                    result = Unmap(head + (ulong)i, run, gather);
                    if (result != Errno.Ok)
                        break;
                    for (int j = i; j < i + run; j++)
                        block.ClearSmall(j);
                    zapped += run;
                    i += run;
                }
                if (result != Errno.Ok)
                    break;
                Forget(key, block);
            }
            if (!gather.IsEmpty)
                _table.IotlbSync(gather);
            if (zapped != 0)
                Log.Stage2Zapped(_logger, firstGfn, endGfn, which, zapped);
            return result;
        }
    }

    /// <summary>Cuts the 2M leaf that maps <paramref name="gfn"/> into 4K leaves, hitlessly (before its RMP entry is smashed).</summary>
    internal Errno Split(ulong gfn)
    {
        lock (_mmuLock)
        {
            if (_destroyed || !_blocks.TryGetValue(gfn >> HugeOrder, out Stage2Block? block) || !block.Huge)
                return Errno.Ok;
            ulong head = gfn & ~(ulong)(SnpGuestMemfdArch.PagesPer2M - 1);
            Errno e = _table.Cut((head + 1) << Page.Shift);
            if (e != Errno.Ok)
                return e;
            block.SplitHuge();
            Log.Stage2Split(_logger, head);
            return Errno.Ok;
        }
    }

    /// <summary>Runs <paramref name="update"/> under the stage-2 lock (mmu_lock), as invalidate_begin and _end do.</summary>
    internal void UnderLock(Action update)
    {
        lock (_mmuLock)
            update();
    }

    /// <summary>Frees every table (the VM is gone).</summary>
    internal void Destroy()
    {
        lock (_mmuLock)
        {
            if (_destroyed)
                return;
            _destroyed = true;
            _blocks.Clear();
            _table.Deinit();
        }
    }

    private Errno Unmap(ulong gfn, int pages, IotlbGather gather)
    {
        ulong length = (ulong)pages << Page.Shift;
        Errno e = _table.UnmapPages(gfn << Page.Shift, length, gather, out ulong unmapped);
        if (e != Errno.Ok || unmapped != length)
            throw new InvalidOperationException($"BUG: stage-2 unmap of gfn 0x{gfn:x} +{pages} gave {e}, 0x{unmapped:x} bytes");
        return Errno.Ok;
    }

    // The index's keys in [first, last], without walking an empty guest-physical space page by page.
    private List<ulong> KeysIn(ulong first, ulong last)
    {
        var keys = new List<ulong>();
        if (last - first < (ulong)_blocks.Count)
        {
            for (ulong k = first; k <= last; k++)
            {
                if (_blocks.ContainsKey(k))
                    keys.Add(k);
                if (k == ulong.MaxValue)
                    break;
            }
        }
        else
        {
            keys.AddRange(_blocks.Keys.Where(k => k >= first && k <= last));
            keys.Sort();
        }
        return keys;
    }

    private Stage2Block Add(ulong key)
    {
        var block = new Stage2Block();
        _blocks.Add(key, block);
        return block;
    }

    private void Forget(ulong key, Stage2Block block)
    {
        if (block.Empty && !block.HasTable)
            _blocks.Remove(key);
    }

    private static bool Matches(bool isPrivate, Stage2Zap which) =>
        which == Stage2Zap.All || (which == Stage2Zap.Private) == isPrivate;

    private static int Offset(ulong gfn) => (int)(gfn & (SnpGuestMemfdArch.PagesPer2M - 1));
}
