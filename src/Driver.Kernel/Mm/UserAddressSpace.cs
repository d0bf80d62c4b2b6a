using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Mm;

/// <summary>
/// One process's address space (mm_struct): anonymous and file mappings of user virtual
/// addresses, backed by kernel frames through <see cref="PageCounts"/> and faulted in lazily.
/// Entry points return Linux's errno and leave the space unchanged when they refuse.
/// <para>Locks, outermost first: the mmap lock (mappings), a file's own lock, the page-table
/// lock (page table; mappings are read under it too), the page counts. A file that takes its
/// pages away (<see cref="ZapFilePages"/>) takes only the page-table lock.</para>
/// </summary>
public sealed class UserAddressSpace : IDisposable
{
    /// <summary>The lowest address a mapping gets unless asked for (low addresses stay unmapped, to catch bugs).</summary>
    public const ulong MmapMin = 0x1_0000_0000;

    /// <summary>One past the highest user address (x86-64 TASK_SIZE with 4-level paging).</summary>
    public const ulong TaskSize = 0x7fff_ffff_f000;

    /// <summary>Anonymous mappings of at least this size are aligned to it, as Linux aligns them for THP.</summary>
    public const ulong HugeAlign = 2UL << 20;

    private readonly IPhysicalMemory _memory;
    private readonly ILogger _logger;
    private readonly Lock _mmapLock = new();
    private readonly Lock _ptl = new();
    private readonly List<Vma> _vmas = [];
    private readonly UserPageTable _pageTable = new();
    private bool _disposed;

    public UserAddressSpace(PageCounts pages, IPhysicalMemory memory, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(memory);
        Pages = pages;
        _memory = memory;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Mm.UserAddressSpace");
    }

    /// <summary>The page metadata the space's pages live in.</summary>
    public PageCounts Pages { get; }

    /// <summary>Mappings (VMAs) currently in the space.</summary>
    public int MappingCount
    {
        get
        {
            lock (_ptl)
                return _vmas.Count;
        }
    }

    /// <summary>Pages currently present in the page table.</summary>
    public long ResidentPages
    {
        get
        {
            lock (_ptl)
                return _pageTable.PresentPages;
        }
    }

    /// <summary>A read-write anonymous mapping of <paramref name="length"/> bytes (rounded up to pages).</summary>
    public Errno Mmap(ulong length, out ulong uva) => Mmap(length, writable: true, out uva);

    /// <summary>An anonymous mapping; EINVAL for length 0, ENOMEM when no gap is left.</summary>
    public Errno Mmap(ulong length, bool writable, out ulong uva) => MapNew(length, writable, null, 0, out uva);

    /// <summary>
    /// An anonymous mapping at exactly <paramref name="uva"/> (MAP_FIXED): what was mapped there is
    /// unmapped first. EINVAL for an unaligned address, length 0 or a range outside user space.
    /// </summary>
    public Errno MmapFixed(ulong uva, ulong length, bool writable)
    {
        if (!RoundLength(length, out ulong len) || (uva & Page.Mask) != 0 || uva < Page.Size || uva > TaskSize || len > TaskSize - uva)
            return Errno.EINVAL;
        lock (_mmapLock)
        {
            UnmapLocked(uva, uva + len);
            Insert(new Vma(uva, uva + len, writable, null, 0));
        }
        return Errno.Ok;
    }

    /// <summary>
    /// A shared mapping of <paramref name="file"/>'s pages from <paramref name="offset"/>. EINVAL for an
    /// unaligned offset or length 0, EOVERFLOW when offset + length wraps, ENOMEM when no gap is left.
    /// Pages beyond the end of the file fault with EFAULT.
    /// </summary>
    public Errno MmapFile(IUserMappable file, ulong offset, ulong length, bool writable, out ulong uva)
    {
        ArgumentNullException.ThrowIfNull(file);
        uva = 0;
        if ((offset & Page.Mask) != 0)
            return Errno.EINVAL;
        if (RoundLength(length, out ulong len) && offset > ulong.MaxValue - len)
            return Errno.EOVERFLOW;
        return MapNew(length, writable, file, offset, out uva);
    }

    /// <summary>As <see cref="MmapFile(IUserMappable, ulong, ulong, bool, out ulong)"/>, through an open file: a writable mapping of a read-only file is EACCES.</summary>
    public Errno MmapFile(MemFdHandle handle, ulong offset, ulong length, bool writable, out ulong uva)
    {
        ArgumentNullException.ThrowIfNull(handle);
        uva = 0;
        if (writable && !handle.Writable)
            return Errno.EACCES;
        return MmapFile(handle.File, offset, length, writable, out uva);
    }

    /// <summary>
    /// Unmaps [uva, uva + length) (rounded up to pages), splitting mappings that cross its ends;
    /// nothing mapped there is not an error. A pinned page keeps its frame until it is unpinned.
    /// EINVAL for an unaligned address, length 0 or a range outside user space.
    /// </summary>
    public Errno Munmap(ulong uva, ulong length)
    {
        if (!RoundLength(length, out ulong len) || (uva & Page.Mask) != 0 || uva > TaskSize || len > TaskSize - uva)
            return Errno.EINVAL;
        lock (_mmapLock)
            UnmapLocked(uva, uva + len);
        return Errno.Ok;
    }

    /// <summary>Faults in every page of [uva, uva + length) for writing (MADV_POPULATE_WRITE); EFAULT, ENOMEM.</summary>
    public Errno Populate(ulong uva, ulong length)
    {
        if (!RoundLength(length, out ulong len) || (uva & Page.Mask) != 0)
            return Errno.EINVAL;
        lock (_mmapLock)
        {
            if (!Covered(uva, len, write: true, out _))
                return Errno.EFAULT;
            for (ulong va = uva; va < uva + len; va += Page.Size)
            {
                Errno e = FaultIn(va, write: true, out _);
                if (e != Errno.Ok)
                    return e;
            }
        }
        return Errno.Ok;
    }

    /// <summary>
    /// pin_user_pages: pins <paramref name="count"/> pages from <paramref name="uva"/> (faulting them in)
    /// and writes their frame numbers to <paramref name="pfns"/>. EFAULT when any page of the range is not
    /// mapped, not writable for a write pin, or beyond the end of its file; ENOMEM when a page cannot be
    /// allocated. On any error nothing is left pinned. EINVAL for an unaligned address or a short span.
    /// </summary>
    public Errno PinUserPages(ulong uva, int count, bool write, Span<ulong> pfns)
    {
        if ((uva & Page.Mask) != 0 || count < 0 || pfns.Length < count)
            return Errno.EINVAL;
        if (count == 0)
            return Errno.Ok;
        ulong len = (ulong)count << Page.Shift;
        lock (_mmapLock)
        {
            ulong bad = uva;
            if (uva > TaskSize || len > TaskSize - uva || !Covered(uva, len, write, out bad))
            {
                Log.PinFault(_logger, uva, count, write, bad);
                return Errno.EFAULT;
            }
            if (Pages.InjectFailure())
                return Errno.ENOMEM;
            for (int i = 0; i < count; i++)
            {
                ulong va = uva + ((ulong)i << Page.Shift);
                Errno e = FaultIn(va, write, out _, pin: true, pinned: pfns, slot: i);
                if (e != Errno.Ok)
                {
                    Pages.Unpin(pfns[..i]);
                    pfns[..i].Clear();
                    Log.PinFault(_logger, uva, count, write, va);
                    return e == Errno.ENOMEM ? e : Errno.EFAULT;
                }
            }
        }
        return Errno.Ok;
    }

    /// <summary>unpin_user_pages: releases one pin on each page; a page neither mapped nor pinned any more is freed.</summary>
    public void UnpinUserPages(ReadOnlySpan<ulong> pfns) => Pages.Unpin(pfns);

    /// <summary>
    /// copy_from_user: EFAULT (and nothing copied) when any byte is not mapped. A page never touched
    /// reads as zeros, as the shared zero page does, and is not allocated.
    /// </summary>
    public Errno CopyFromUser(ulong uva, Span<byte> destination) => CopyFromUser(uva, destination, out _);

    /// <summary>copy_from_user, saying what the process would have been sent (<see cref="UserFault"/>) when it fails.</summary>
    public Errno CopyFromUser(ulong uva, Span<byte> destination, out UserFault fault)
    {
        fault = UserFault.None;
        ulong len = (ulong)destination.Length;
        if (len == 0)
            return Errno.Ok;
        lock (_mmapLock)
        {
            if (!CoveredBytes(uva, len, write: false))
            {
                fault = UserFault.Segv;
                return Errno.EFAULT;
            }
            int done = 0;
            while (done < destination.Length)
            {
                ulong va = uva + (ulong)done;
                int chunk = (int)Math.Min(Page.Size - (va & Page.Mask), (ulong)(destination.Length - done));
                Span<byte> part = destination.Slice(done, chunk);
                Vma vma = FindVma(va)!;
                if (vma.File is null)
                {
                    lock (_ptl)
                    {
                        if (_pageTable.TryGet(va >> Page.Shift, out ulong pfn))
                            _memory.Read((pfn << Page.Shift) + (va & Page.Mask), part);
                        else
                            part.Clear();
                    }
                }
                else
                {
                    Errno e = FaultIn(va, write: false, out _, copyOut: part);
                    if (e != Errno.Ok)
                    {
                        fault = UserFault.Bus;
                        return Errno.EFAULT;
                    }
                }
                done += chunk;
            }
        }
        return Errno.Ok;
    }

    /// <summary>copy_to_user: EFAULT (and nothing copied) when any byte is not mapped writable; pages are faulted in.</summary>
    public Errno CopyToUser(ulong uva, ReadOnlySpan<byte> source) => CopyToUser(uva, source, out _);

    /// <summary>copy_to_user, saying what the process would have been sent (<see cref="UserFault"/>) when it fails.</summary>
    public Errno CopyToUser(ulong uva, ReadOnlySpan<byte> source, out UserFault fault)
    {
        fault = UserFault.None;
        ulong len = (ulong)source.Length;
        if (len == 0)
            return Errno.Ok;
        lock (_mmapLock)
        {
            if (!CoveredBytes(uva, len, write: true))
            {
                fault = UserFault.Segv;
                return Errno.EFAULT;
            }
            int done = 0;
            while (done < source.Length)
            {
                ulong va = uva + (ulong)done;
                int chunk = (int)Math.Min(Page.Size - (va & Page.Mask), (ulong)(source.Length - done));
                Errno e = FaultIn(va, write: true, out _, copyIn: source.Slice(done, chunk));
                if (e != Errno.Ok)
                {
                    fault = UserFault.Bus;
                    return Errno.EFAULT;
                }
                done += chunk;
            }
        }
        return Errno.Ok;
    }

    /// <summary>The page mapped at <paramref name="uva"/> now, without faulting (a page-table walk).</summary>
    public bool TryTranslate(ulong uva, out ulong pfn)
    {
        lock (_ptl)
            return _pageTable.TryGet(uva >> Page.Shift, out pfn);
    }

    /// <summary>
    /// Takes pages [<paramref name="first"/>, <paramref name="end"/>) of <paramref name="file"/> out of this
    /// space's page table, dropping the mappings' references; the mappings stay and fault again.
    /// Called by the file with its own lock held; takes only the page-table lock.
    /// </summary>
    public long ZapFilePages(IUserMappable file, ulong first, ulong end)
    {
        ArgumentNullException.ThrowIfNull(file);
        long zapped = 0;
        lock (_ptl)
        {
            foreach (Vma vma in _vmas)
            {
                if (!ReferenceEquals(vma.File, file))
                    continue;
                ulong vmaFirst = vma.FileOffset >> Page.Shift;
                ulong vmaEnd = vmaFirst + (vma.Length >> Page.Shift);
                ulong from = Math.Max(first, vmaFirst);
                ulong to = Math.Min(end, vmaEnd);
                for (ulong index = from; index < to; index++)
                {
                    ulong vpn = (vma.Start >> Page.Shift) + (index - vmaFirst);
                    if (_pageTable.Clear(vpn, out ulong pfn))
                    {
                        Pages.Put(pfn);
                        zapped++;
                    }
                }
            }
        }
        return zapped;
    }

    /// <summary>Unmaps everything (exit_mmap).</summary>
    public void Dispose()
    {
        lock (_mmapLock)
        {
            if (_disposed)
                return;
            _disposed = true;
            UnmapLocked(0, ulong.MaxValue);
        }
    }

    // Linux rounds a length up to whole pages; 0, or a length that wraps, is refused.
    private static bool RoundLength(ulong length, out ulong rounded)
    {
        rounded = (length + Page.Mask) & ~Page.Mask;
        return length != 0 && rounded >= length;
    }

    private Errno MapNew(ulong length, bool writable, IUserMappable? file, ulong offset, out ulong uva)
    {
        uva = 0;
        if (length == 0)
            return Errno.EINVAL;
        if (!RoundLength(length, out ulong len) || len > TaskSize - MmapMin)
            return Errno.ENOMEM;
        ulong align = file is null && len >= HugeAlign ? HugeAlign : Page.Size;
        lock (_mmapLock)
        {
            if (_disposed || !FindGap(len, align, out uva))
            {
                Log.MmapNoSpace(_logger, len);
                return Errno.ENOMEM;
            }
            Insert(new Vma(uva, uva + len, writable, file, offset));
            file?.MappingOpened(this);
        }
        return Errno.Ok;
    }

    private bool FindGap(ulong len, ulong align, out ulong uva)
    {
        ulong candidate = MmapMin;
        foreach (Vma vma in _vmas)
        {
            if (vma.End <= candidate)
                continue;
            if (vma.Start >= candidate && vma.Start - candidate >= len)
                break;
            candidate = (vma.End + align - 1) & ~(align - 1);
        }
        uva = candidate;
        return candidate <= TaskSize && TaskSize - candidate >= len;
    }

    private void Insert(Vma vma)
    {
        lock (_ptl)
        {
            int at = _vmas.FindIndex(v => v.Start > vma.Start);
            _vmas.Insert(at < 0 ? _vmas.Count : at, vma);
        }
    }

    private Vma? FindVma(ulong va)
    {
        foreach (Vma vma in _vmas)
        {
            if (va < vma.Start)
                return null;
            if (va < vma.End)
                return vma;
        }
        return null;
    }

    // Every page of [uva, uva + len) lies in a mapping (writable for a write); `bad` is the first that does not.
    private bool Covered(ulong uva, ulong len, bool write, out ulong bad)
    {
        ulong va = uva;
        ulong end = uva + len;
        while (va < end)
        {
            Vma? vma = FindVma(va);
            if (vma is null || (write && !vma.Writable))
            {
                bad = va;
                return false;
            }
            va = vma.End;
        }
        bad = 0;
        return true;
    }

    private bool CoveredBytes(ulong uva, ulong len, bool write)
    {
        if (uva >= TaskSize || len > TaskSize - uva)
            return false;
        ulong first = uva & ~Page.Mask;
        ulong last = (uva + len - 1) & ~Page.Mask;
        return Covered(first, last - first + Page.Size, write, out _);
    }

    // The page at `va` (in a mapping the caller has checked), faulted in if absent; with the
    // page-table lock held once it is present: pins it into pinned[slot], or copies to/from it.
    private Errno FaultIn(ulong va, bool write, out ulong pfn, bool pin = false, Span<ulong> pinned = default, int slot = 0,
        Span<byte> copyOut = default, ReadOnlySpan<byte> copyIn = default)
    {
        ulong vpn = va >> Page.Shift;
        while (true)
        {
            lock (_ptl)
            {
                if (_pageTable.TryGet(vpn, out pfn))
                {
                    ulong pa = (pfn << Page.Shift) + (va & Page.Mask);
                    if (pin)
                    {
                        Pages.Pin(pfn);
                        pinned[slot] = pfn;
                    }
                    if (!copyOut.IsEmpty)
                        _memory.Read(pa, copyOut);
                    if (!copyIn.IsEmpty)
                        _memory.Write(pa, copyIn);
                    return Errno.Ok;
                }
            }
            Vma vma = FindVma(va)!;
            ulong page;
            Errno e = vma.File is null
                ? Pages.AllocPage(out page)
                : vma.File.FaultPage(vma.FilePageIndex(va), write, out page);
            if (e != Errno.Ok)
                return e;
            // The mmap lock keeps the mapping; only a file's zap can have run meanwhile, and it
            // left the entry empty, so the new page goes in (and is looked up again above).
            lock (_ptl)
                _pageTable.Set(vpn, page);
        }
    }

    private void UnmapLocked(ulong start, ulong end)
    {
        var closed = new List<IUserMappable>();
        var freed = new List<ulong>();
        lock (_ptl)
        {
            for (int i = 0; i < _vmas.Count; i++)
            {
                Vma vma = _vmas[i];
                if (vma.End <= start || vma.Start >= end)
                    continue;
                ulong from = Math.Max(start, vma.Start) >> Page.Shift;
                ulong to = Math.Min(end, vma.End) >> Page.Shift;
                for (ulong vpn = from; vpn < to; vpn++)
                {
                    vpn = _pageTable.NextCandidate(vpn);
                    if (vpn >= to)
                        break;
                    if (_pageTable.Clear(vpn, out ulong pfn))
                        freed.Add(pfn);
                }
                var pieces = new List<Vma>(2);
                if (vma.Slice(vma.Start, start) is { } before)
                    pieces.Add(before);
                if (vma.Slice(end, vma.End) is { } after)
                    pieces.Add(after);
                _vmas.RemoveAt(i);
                _vmas.InsertRange(i, pieces);
                i += pieces.Count - 1;
                if (vma.File is not null)
                {
                    closed.Add(vma.File);
                    foreach (Vma piece in pieces)
                        piece.File!.MappingOpened(this);
                }
            }
        }
        long keptByPins = 0;
        foreach (ulong pfn in freed)
        {
            if (Pages.PinCount(pfn) > 0)
                keptByPins++;
            Pages.Put(pfn);
        }
        if (keptByPins > 0)
            Log.MunmapKeptPinned(_logger, start, keptByPins);
        foreach (IUserMappable file in closed)
            file.MappingClosed(this);
    }
}
