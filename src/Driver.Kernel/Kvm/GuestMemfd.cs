using Driver.Hw.Interfaces;
using Driver.Hw.Kvm;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A guest_memfd: a file of guest memory whose pages are shared (the host may map them) or
/// private (the guest's only). Pages are allocated on first use, in folios of 4K, or of 2M over
/// a 2M-aligned private range when <see cref="GuestMemfdOptions.HugePages"/> is set; the file
/// holds one reference on each page (visible through <see cref="PageCounts"/>). Faults and
/// get_pfn take the invalidate lock shared; conversion and hole punching take it exclusively
/// and tell every memslot binding and notifier of the range.
/// </summary>
public sealed partial class GuestMemfd : IUserMappable, IFile
{
    /// <summary>FALLOC_FL_KEEP_SIZE.</summary>
    public const uint FallocKeepSize = 0x01;

    /// <summary>FALLOC_FL_PUNCH_HOLE.</summary>
    public const uint FallocPunchHole = 0x02;

    private readonly PageCounts _pages;
    private readonly IPhysicalMemory _memory;
    private readonly IGuestMemfdArch? _arch;
    private readonly bool _hugePages;
    private readonly ILogger _logger;
    private readonly ReaderWriterLockSlim _invalidateLock = new(LockRecursionPolicy.NoRecursion);
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, GuestMemfdFolio> _folios = [];
    private readonly FileMappers _mappers = new();
    private readonly List<Subscription> _subscriptions = [];
    private readonly ShareabilityRanges _shareability;
    private int _users = 1;
    private bool _released;

    private GuestMemfd(PageCounts pages, IPhysicalMemory memory, ulong size, GuestMemfdFlags flags, GuestMemfdOptions options)
    {
        _pages = pages;
        _memory = memory;
        Size = size;
        Flags = flags;
        Owner = options.Owner;
        _arch = options.Arch;
        _hugePages = options.HugePages;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Kvm.GuestMemfd");
        _shareability = new ShareabilityRanges(size >> Page.Shift, shared: (flags & GuestMemfdFlags.InitShared) != 0);
    }

    private sealed record Subscription(IGuestMemfdNotifier Notifier, ulong Start, ulong End, GuestMemfdBinding? Binding);

    public ulong Size { get; }

    public GuestMemfdFlags Flags { get; }

    /// <summary>The VM the file was created for.</summary>
    public object? Owner { get; }

    /// <summary>False once the last fd and mapping went away: its pages are gone and get_pfn is EFAULT.</summary>
    public bool Alive
    {
        get
        {
            lock (_lock)
                return !_released;
        }
    }

    /// <summary>KVM_CREATE_GUEST_MEMFD: EINVAL for unknown flags, INIT_SHARED where not offered, a size of 0 or not page aligned.</summary>
    public static Errno Create(PageCounts pages, IPhysicalMemory memory, ulong size, ulong flags, out GuestMemfd? file, GuestMemfdOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(memory);
        options ??= new GuestMemfdOptions();
        file = null;
        ulong supported = (ulong)GuestMemfdFlags.Mmap | (options.SupportsInitShared ? (ulong)GuestMemfdFlags.InitShared : 0);
        if ((flags & ~supported) != 0 || size == 0 || (size & Page.Mask) != 0 || size > MemFd.MaxSize)
            return Errno.EINVAL;
        if (pages.InjectFailure())
            return Errno.ENOMEM;
        file = new GuestMemfd(pages, memory, size, (GuestMemfdFlags)flags, options);
        Log.Created(file._logger, size, flags);
        return Errno.Ok;
    }

    /// <summary>Whether page <paramref name="index"/> is private (KVM_MEMORY_ATTRIBUTE_PRIVATE).</summary>
    public bool IsPrivate(ulong index)
    {
        _invalidateLock.EnterReadLock();
        try
        {
            return !_shareability.IsShared(index);
        }
        finally
        {
            _invalidateLock.ExitReadLock();
        }
    }

    /// <summary>A copy of the shareability ranges.</summary>
    public ShareabilityRanges Shareability
    {
        get
        {
            _invalidateLock.EnterReadLock();
            try
            {
                return _shareability.Clone();
            }
            finally
            {
                _invalidateLock.ExitReadLock();
            }
        }
    }

    /// <summary>The order of the folio holding page <paramref name="index"/> (0 or 9), or -1 for a hole.</summary>
    public int FolioOrderAt(ulong index)
    {
        lock (_lock)
            return FindFolio(index) is { } folio ? folio.Order : -1;
    }

    /// <summary>The frame of page <paramref name="index"/> if it is present, without allocating.</summary>
    public bool TryFindPage(ulong index, out ulong pfn)
    {
        lock (_lock)
        {
            GuestMemfdFolio? folio = FindFolio(index);
            pfn = folio?.PfnOf(index) ?? 0;
            return folio is not null;
        }
    }

    /// <summary>Pages present in the file.</summary>
    public long PresentPages
    {
        get
        {
            lock (_lock)
                return _folios.Values.Sum(f => (long)f.Pages);
        }
    }

    /// <summary>True when the calling thread holds the invalidate lock exclusively (a notifier may check it).</summary>
    public bool InvalidateLockHeldExclusively => _invalidateLock.IsWriteLockHeld;

    /// <summary>
    /// get_pfn without a binding: the frame of page <paramref name="index"/> and the order it may be mapped at
    /// (its folio's). EFAULT when the file is gone or the page lies past its end, EHWPOISON, ENOMEM.
    /// </summary>
    public Errno GetPfn(ulong index, out ulong pfn, out int maxOrder) => GetPfn(null, index, out pfn, out maxOrder);

    internal Errno GetPfn(GuestMemfdBinding? binding, ulong index, out ulong pfn, out int maxOrder)
    {
        pfn = 0;
        maxOrder = 0;
        _invalidateLock.EnterReadLock();
        try
        {
            lock (_lock)
            {
                Errno e = CheckPageLocked(binding, index);
                if (e != Errno.Ok)
                    return e;
                e = FolioPfnLocked(index, out GuestMemfdFolio? folio, out ulong found);
                if (e != Errno.Ok)
                    return e;
                pfn = found;
                maxOrder = folio!.Order;
                return Errno.Ok;
            }
        }
        finally
        {
            _invalidateLock.ExitReadLock();
        }
    }

    // get_pfn's first checks: EFAULT when the file is gone or the page lies past its end, EIO when a binding is
    // given that does not hold the page.
    private Errno CheckPageLocked(GuestMemfdBinding? binding, ulong index)
    {
        if (_released || index >= Size >> Page.Shift)
            return Errno.EFAULT;
        if (binding is not null && (!binding.Bound || index < binding.Offset >> Page.Shift || index >= (binding.Offset + binding.Length) >> Page.Shift))
            return Errno.EIO;
        return Errno.Ok;
    }

    // The folio of page `index` (allocated if it is a hole: ENOMEM) and the page's frame; EHWPOISON for a poisoned one.
    private Errno FolioPfnLocked(ulong index, out GuestMemfdFolio? folio, out ulong pfn)
    {
        pfn = 0;
        Errno e = GetFolioLocked(index, out folio);
        if (e != Errno.Ok)
            return e;
        ulong found = folio!.PfnOf(index);
        if (_pages.IsHwPoison(found))
            return Errno.EHWPOISON;
        pfn = found;
        return Errno.Ok;
    }

    /// <summary>
    /// fallocate: FALLOC_FL_KEEP_SIZE is required (else EOPNOTSUPP, as are unknown modes); with
    /// FALLOC_FL_PUNCH_HOLE the range's pages are dropped (past the end: nothing to do), else they are
    /// allocated (past the end: EINVAL). EINVAL for an unaligned or empty range.
    /// </summary>
    public Errno Fallocate(uint mode, ulong offset, ulong length)
    {
        if ((mode & FallocKeepSize) == 0 || (mode & ~(FallocKeepSize | FallocPunchHole)) != 0)
            return Errno.EOPNOTSUPP;
        if (length == 0 || ((offset | length) & Page.Mask) != 0 || offset > ulong.MaxValue - length)
            return Errno.EINVAL;
        if ((mode & FallocPunchHole) != 0)
            return PunchHole(offset, Math.Min(offset + length, Size));
        if (offset + length > Size)
            return Errno.EINVAL;
        _invalidateLock.EnterReadLock();
        try
        {
            lock (_lock)
            {
                if (_released)
                    return Errno.EFAULT;
                for (ulong index = offset >> Page.Shift; index < (offset + length) >> Page.Shift; index++)
                {
                    Errno e = GetFolioLocked(index, out _);
                    if (e != Errno.Ok)
                        return e;
                }
            }
        }
        finally
        {
            _invalidateLock.ExitReadLock();
        }
        return Errno.Ok;
    }

    /// <summary>mmap of the file's shared pages into <paramref name="mm"/>: ENODEV without GUEST_MEMFD_FLAG_MMAP.</summary>
    public Errno Mmap(UserAddressSpace mm, ulong offset, ulong length, bool writable, out ulong uva)
    {
        ArgumentNullException.ThrowIfNull(mm);
        uva = 0;
        if ((Flags & GuestMemfdFlags.Mmap) == 0)
            return Errno.ENODEV;
        return mm.MmapFile(this, offset, length, writable, out uva);
    }

    /// <summary>
    /// kvm_gmem_bind: binds [offset, offset + length) to a memslot. EINVAL when the file belongs to
    /// another VM, the range is unaligned, empty or past the end, or overlaps another binding.
    /// </summary>
    public Errno Bind(IGuestMemfdNotifier slot, object? owner, ulong offset, ulong length, out GuestMemfdBinding? binding)
    {
        ArgumentNullException.ThrowIfNull(slot);
        binding = null;
        if (!Equals(owner, Owner) || length == 0 || ((offset | length) & Page.Mask) != 0 || offset > Size || length > Size - offset)
            return Errno.EINVAL;
        _invalidateLock.EnterWriteLock();
        try
        {
            if (_released)
                return Errno.EINVAL;
            if (_subscriptions.Any(s => s.Binding is not null && s.Start < offset + length && offset < s.End))
                return Errno.EINVAL;
            binding = new GuestMemfdBinding(this, slot, offset, length);
            _subscriptions.Add(new Subscription(slot, offset, offset + length, binding));
            return Errno.Ok;
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
    }

    internal void Unbind(GuestMemfdBinding binding)
    {
        _invalidateLock.EnterWriteLock();
        try
        {
            binding.Bound = false;
            _subscriptions.RemoveAll(s => ReferenceEquals(s.Binding, binding));
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
    }

    /// <summary>A notifier of [start, end) that is no memslot (the IOMMU binding): ranges may overlap. Dispose to remove it.</summary>
    public IDisposable AddNotifier(IGuestMemfdNotifier notifier, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(notifier);
        var subscription = new Subscription(notifier, start, end, null);
        _invalidateLock.EnterWriteLock();
        try
        {
            _subscriptions.Add(subscription);
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
        return new Unsubscriber(this, subscription);
    }

    private sealed class Unsubscriber(GuestMemfd file, Subscription subscription) : IDisposable
    {
        public void Dispose()
        {
            file._invalidateLock.EnterWriteLock();
            try
            {
                file._subscriptions.Remove(subscription);
            }
            finally
            {
                file._invalidateLock.ExitWriteLock();
            }
        }
    }

    /// <summary>The last fd closed: when no mapping holds the file either, its pages go.</summary>
    public void Release() => RemoveUser();

    Errno IUserMappable.FaultPage(ulong index, bool write, out ulong pfn)
    {
        pfn = 0;
        _invalidateLock.EnterReadLock();
        try
        {
            lock (_lock)
            {
                if (_released || index >= Size >> Page.Shift)
                    return Errno.EFAULT;
                if (!_shareability.IsShared(index))
                {
                    Log.PrivateHostFault(_logger, index);
                    return Errno.EFAULT;
                }
                Errno e = GetFolioLocked(index, out GuestMemfdFolio? folio);
                if (e != Errno.Ok)
                    return e;
                pfn = folio!.PfnOf(index);
                if (_pages.IsHwPoison(pfn))
                    return Errno.EHWPOISON;
                _pages.Get(pfn);
                return Errno.Ok;
            }
        }
        finally
        {
            _invalidateLock.ExitReadLock();
        }
    }

    void IUserMappable.MappingOpened(UserAddressSpace mm)
    {
        lock (_lock)
            _users++;
        _mappers.Add(mm);
    }

    void IUserMappable.MappingClosed(UserAddressSpace mm)
    {
        _mappers.Remove(mm);
        RemoveUser();
    }

    private void RemoveUser()
    {
        lock (_lock)
        {
            if (--_users > 0)
                return;
            if (_users < 0)
                throw new InvalidOperationException("BUG: guest_memfd released twice");
        }
        // kvm_gmem_release: every binding loses the whole file, then the pages go.
        _invalidateLock.EnterWriteLock();
        try
        {
            List<Subscription> told = Overlapping(0, Size);
            foreach (Subscription s in told)
                s.Notifier.InvalidateBegin(this, 0, Size, InvalidateReason.Truncate);
            foreach (Subscription s in told)
                s.Notifier.ShouldProceed(this, 0, Size, InvalidateReason.Truncate);
            lock (_lock)
            {
                _released = true;
                DropFoliosLocked(0, Size >> Page.Shift);
            }
            foreach (Subscription s in told)
            {
                s.Binding?.Bound = false;
                s.Notifier.InvalidateEnd(this, 0, Size, InvalidateReason.Truncate);
            }
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
    }

    private Errno PunchHole(ulong start, ulong end)
    {
        if (start >= end)
            return Errno.Ok;
        _invalidateLock.EnterWriteLock();
        try
        {
            if (_released)
                return Errno.EFAULT;
            List<Subscription> told = Overlapping(start, end);
            foreach (Subscription s in told)
                s.Notifier.InvalidateBegin(this, start, end, InvalidateReason.Truncate);
            try
            {
                foreach (Subscription s in told)
                    s.Notifier.ShouldProceed(this, start, end, InvalidateReason.Truncate);
                ulong first = start >> Page.Shift;
                ulong last = end >> Page.Shift;
                _mappers.Zap(this, first, last);
                lock (_lock)
                {
                    // A 2M folio only partly in the hole is split first, so the rest of it stays.
                    foreach (GuestMemfdFolio huge in HugeFoliosIn(first, last).Where(f => f.FirstIndex < first || f.FirstIndex + f.Pages > last))
                    {
                        Errno e = SplitLocked(huge);
                        if (e != Errno.Ok)
                            return e;
                    }
                    long dropped = DropFoliosLocked(first, last);
                    Log.HolePunched(_logger, start, end - start, dropped);
                }
                return Errno.Ok;
            }
            finally
            {
                foreach (Subscription s in told)
                    s.Notifier.InvalidateEnd(this, start, end, InvalidateReason.Truncate);
            }
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
    }

    private List<Subscription> Overlapping(ulong start, ulong end) =>
        [.. _subscriptions.Where(s => s.Start < end && start < s.End)];

    private GuestMemfdFolio? FindFolio(ulong index)
    {
        if (_folios.TryGetValue(index & ~(GuestMemfdFolio.HugePages - 1), out GuestMemfdFolio? huge) && huge.Order == GuestMemfdFolio.HugeOrder)
            return huge;
        return _folios.TryGetValue(index, out GuestMemfdFolio? small) && small.Order == 0 ? small : null;
    }

    private IEnumerable<GuestMemfdFolio> HugeFoliosIn(ulong first, ulong last)
    {
        var found = new List<GuestMemfdFolio>();
        for (ulong block = first & ~(GuestMemfdFolio.HugePages - 1); block < last; block += GuestMemfdFolio.HugePages)
        {
            if (_folios.TryGetValue(block, out GuestMemfdFolio? folio) && folio.Order == GuestMemfdFolio.HugeOrder)
                found.Add(folio);
        }
        return found;
    }

    // The folio of page `index`, allocated when it is a hole: 2M when the whole aligned 2M is
    // private, inside the file and empty, and huge pages are on; 4K otherwise.
    private Errno GetFolioLocked(ulong index, out GuestMemfdFolio? folio)
    {
        folio = FindFolio(index);
        if (folio is not null)
            return Errno.Ok;
        ulong block = index & ~(GuestMemfdFolio.HugePages - 1);
        if (_hugePages && block + GuestMemfdFolio.HugePages <= Size >> Page.Shift
            && _shareability.All(block, block + GuestMemfdFolio.HugePages, shared: false) && BlockEmpty(block))
        {
            if (_pages.AllocFolio((int)GuestMemfdFolio.HugePages, out ulong firstPfn) == Errno.Ok)
            {
                folio = new GuestMemfdFolio(block, GuestMemfdFolio.HugeOrder, firstPfn);
                _folios.Add(block, folio);
                return Errno.Ok;
            }
            Log.HugeFallback(_logger, index);
        }
        Errno e = _pages.AllocPage(out ulong pfn);
        if (e != Errno.Ok)
            return e;
        folio = new GuestMemfdFolio(index, 0, pfn);
        _folios.Add(index, folio);
        return Errno.Ok;
    }

    private bool BlockEmpty(ulong block)
    {
        for (ulong i = block; i < block + GuestMemfdFolio.HugePages; i++)
        {
            if (_folios.ContainsKey(i))
                return false;
        }
        return true;
    }

    // Removes every folio wholly inside [first, last) and puts the file's reference on its pages.
    private long DropFoliosLocked(ulong first, ulong last)
    {
        var gone = _folios.Values.Where(f => f.FirstIndex >= first && f.FirstIndex + f.Pages <= last).ToList();
        long pages = 0;
        foreach (GuestMemfdFolio folio in gone)
        {
            _folios.Remove(folio.FirstIndex);
            // The architecture takes the pages back first (SNP: hypervisor-owned); one it cannot is leaked, never freed.
            if ((_arch?.Invalidate(folio.FirstPfn, folio.Order) ?? Errno.Ok) != Errno.Ok)
                continue;
            for (ulong i = 0; i < folio.Pages; i++)
                _pages.Put(folio.FirstPfn + i);
            pages += (long)folio.Pages;
        }
        return pages;
    }

    // A 2M folio becomes 512 4K folios over the same frames: the notifiers' 2M mappings of it are cut to 4K, then the
    // architecture splits its entry (PSMASH on SNP).
    private Errno SplitLocked(GuestMemfdFolio huge)
    {
        if (_pages.InjectFailure())
            return Errno.ENOMEM;
        Errno e = SplitHugeMappingsLocked(huge.FirstIndex);
        if (e != Errno.Ok)
            return e;
        e = _arch?.SplitFolio(this, huge.FirstIndex, huge.FirstPfn, huge.Order) ?? Errno.Ok;
        if (e != Errno.Ok)
            return e;
        _folios.Remove(huge.FirstIndex);
        for (ulong i = 0; i < huge.Pages; i++)
            _folios.Add(huge.FirstIndex + i, new GuestMemfdFolio(huge.FirstIndex + i, 0, huge.FirstPfn + i));
        Log.FolioSplit(_logger, huge.FirstPfn);
        return Errno.Ok;
    }

    // 512 4K folios of one aligned 2M, over 512 aligned contiguous frames (the pieces of a split), become one 2M folio;
    // in a rollback the split is undone, else the architecture merges what it can.
    private Errno MergeLocked(ulong block, bool rollback)
    {
        if (!_folios.TryGetValue(block, out GuestMemfdFolio? head) || head.Order != 0 || (head.FirstPfn & (GuestMemfdFolio.HugePages - 1)) != 0)
            return Errno.EINVAL;
        for (ulong i = 1; i < GuestMemfdFolio.HugePages; i++)
        {
            if (!_folios.TryGetValue(block + i, out GuestMemfdFolio? piece) || piece.Order != 0 || piece.FirstPfn != head.FirstPfn + i)
                return Errno.EINVAL;
        }
        Errno e = (rollback
            ? _arch?.UnsplitFolio(this, block, head.FirstPfn, GuestMemfdFolio.HugeOrder)
            : _arch?.MergeFolio(this, block, head.FirstPfn, GuestMemfdFolio.HugeOrder)) ?? Errno.Ok;
        if (e != Errno.Ok)
        {
            if (rollback)
                Log.RollbackStepFailed(_logger, e, "split 2M folio", head.FirstPfn);
            else
                Log.MergeFailed(_logger, head.FirstPfn, e);
            return e;
        }
        for (ulong i = 0; i < GuestMemfdFolio.HugePages; i++)
            _folios.Remove(block + i);
        _folios.Add(block, new GuestMemfdFolio(block, GuestMemfdFolio.HugeOrder, head.FirstPfn));
        Log.FolioMerged(_logger, head.FirstPfn);
        return Errno.Ok;
    }
}
