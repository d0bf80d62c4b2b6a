using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Mm;

/// <summary>
/// The metadata of user pages (what struct page's _refcount and pin count are to Linux),
/// by page frame number. Every user page is a kernel frame from an <see cref="IFrameAllocator"/>,
/// so a DMA agent reaches it through the IOMMU. Each holder takes a reference: a mapping that
/// maps the page, a file whose page cache holds it, a pin. A pin is also a reference
/// (Linux's pin bias), so <see cref="RefCount"/> is at least <see cref="PinCount"/>. The frame
/// goes back to the allocator when the last reference is put. Thread-safe.
/// </summary>
public sealed class PageCounts
{
    private readonly IFrameAllocator _frames;
    private readonly Dictionary<ulong, Meta> _pages = [];
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private long _totalPins;

    public PageCounts(IFrameAllocator frames, FailNth? failNth = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(frames);
        _frames = frames;
        FailNth = failNth;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Mm.PageCounts");
    }

    /// <summary>The fault injection every user-memory allocation site asks, if any.</summary>
    public FailNth? FailNth { get; }

    /// <summary>Pins currently held on all pages.</summary>
    public long TotalPins => Interlocked.Read(ref _totalPins);

    /// <summary>Pages currently alive (holding a frame).</summary>
    public int LivePages
    {
        get
        {
            lock (_lock)
                return _pages.Count;
        }
    }

    /// <summary>True when the fault injection fails this site: the caller returns ENOMEM.</summary>
    internal bool InjectFailure() => FailNth?.ShouldFail() == true;

    /// <summary>A new zeroed page with one reference, the caller's (a fault site).</summary>
    public Errno AllocPage(out ulong pfn)
    {
        pfn = 0;
        if (InjectFailure() || !_frames.TryAlloc(out ulong pa))
        {
            Log.UserPageAllocFailed(_logger, 1);
            return Errno.ENOMEM;
        }
        pfn = pa >> Page.Shift;
        lock (_lock)
            _pages.Add(pfn, new Meta { Refs = 1 });
        return Errno.Ok;
    }

    /// <summary>
    /// <paramref name="count"/> physically contiguous zeroed pages whose first frame is aligned to
    /// <paramref name="count"/> frames (a power of two: a folio of that order), each with one
    /// reference. Each page is put on its own.
    /// </summary>
    public Errno AllocFolio(int count, out ulong firstPfn)
    {
        if (count < 1 || (count & (count - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(count), "a folio is a power of two of pages");
        firstPfn = 0;
        if (InjectFailure() || !TryAllocAligned(count, out ulong pa))
        {
            Log.UserPageAllocFailed(_logger, count);
            return Errno.ENOMEM;
        }
        firstPfn = pa >> Page.Shift;
        lock (_lock)
        {
            for (int i = 0; i < count; i++)
                _pages.Add(firstPfn + (ulong)i, new Meta { Refs = 1 });
        }
        return Errno.Ok;
    }

    // The allocator promises contiguity, not alignment: take a run one folio short of twice
    // the size, keep the aligned folio inside it and give back the rest.
    private bool TryAllocAligned(int count, out ulong pa)
    {
        ulong bytes = (ulong)count << Page.Shift;
        if (!_frames.TryAllocContiguous(count == 1 ? 1 : (2 * count) - 1, out ulong run))
        {
            pa = 0;
            return false;
        }
        pa = (run + bytes - 1) & ~(bytes - 1);
        ulong runEnd = run + (count == 1 ? Page.Size : (((2UL * (ulong)count) - 1) << Page.Shift));
        for (ulong f = run; f < pa; f += Page.Size)
            _frames.Free(f);
        for (ulong f = pa + bytes; f < runEnd; f += Page.Size)
            _frames.Free(f);
        return true;
    }

    /// <summary>Takes one more reference on a live page (get_page).</summary>
    public void Get(ulong pfn)
    {
        lock (_lock)
            LiveMeta(pfn).Refs++;
    }

    /// <summary>Drops a reference (put_page); the last one frees the frame.</summary>
    public void Put(ulong pfn)
    {
        lock (_lock)
        {
            ref Meta meta = ref LiveMeta(pfn);
            if (meta.Refs == meta.Pins)
            {
                Log.PutOfPinnedReference(_logger, pfn);
                throw new InvalidOperationException($"BUG: put of pfn 0x{pfn:x} would drop a pin's reference");
            }
            if (--meta.Refs > 0)
                return;
            _pages.Remove(pfn);
        }
        _frames.Free(pfn << Page.Shift);
    }

    /// <summary>Pins a live page: one pin and the reference that comes with it.</summary>
    public void Pin(ulong pfn)
    {
        lock (_lock)
        {
            ref Meta meta = ref LiveMeta(pfn);
            meta.Refs++;
            meta.Pins++;
        }
        Interlocked.Increment(ref _totalPins);
    }

    /// <summary>Releases one pin (unpin_user_page); the last reference frees the frame.</summary>
    public void Unpin(ulong pfn)
    {
        bool free;
        lock (_lock)
        {
            ref Meta meta = ref CollectionsMarshal.GetValueRefOrNullRef(_pages, pfn);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref meta) || meta.Pins == 0)
            {
                Log.UnpinOfUnpinnedPage(_logger, pfn);
                throw new InvalidOperationException($"BUG: unpin of pfn 0x{pfn:x}, which is not pinned");
            }
            meta.Pins--;
            free = --meta.Refs == 0;
            if (free)
                _pages.Remove(pfn);
        }
        Interlocked.Decrement(ref _totalPins);
        if (free)
            _frames.Free(pfn << Page.Shift);
    }

    /// <summary>Unpins every page of <paramref name="pfns"/> (unpin_user_pages).</summary>
    public void Unpin(ReadOnlySpan<ulong> pfns)
    {
        foreach (ulong pfn in pfns)
            Unpin(pfn);
    }

    /// <summary>References on the page, pins included; 0 when it is not a live user page.</summary>
    public int RefCount(ulong pfn)
    {
        lock (_lock)
            return _pages.TryGetValue(pfn, out Meta meta) ? meta.Refs : 0;
    }

    /// <summary>Pins on the page; 0 when it is not a live user page.</summary>
    public int PinCount(ulong pfn)
    {
        lock (_lock)
            return _pages.TryGetValue(pfn, out Meta meta) ? meta.Pins : 0;
    }

    /// <summary>True while the page holds its frame.</summary>
    public bool IsLive(ulong pfn)
    {
        lock (_lock)
            return _pages.ContainsKey(pfn);
    }

    /// <summary>Marks a live page as poisoned (a memory failure): its users refuse it with EHWPOISON.</summary>
    public void SetHwPoison(ulong pfn)
    {
        lock (_lock)
            LiveMeta(pfn).HwPoison = true;
    }

    /// <summary>True when the page is live and poisoned.</summary>
    public bool IsHwPoison(ulong pfn)
    {
        lock (_lock)
            return _pages.TryGetValue(pfn, out Meta meta) && meta.HwPoison;
    }

    private ref Meta LiveMeta(ulong pfn)
    {
        ref Meta meta = ref CollectionsMarshal.GetValueRefOrNullRef(_pages, pfn);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref meta))
        {
            Log.NotAUserPage(_logger, pfn);
            throw new InvalidOperationException($"BUG: pfn 0x{pfn:x} is not a live user page");
        }
        return ref meta;
    }

    private struct Meta
    {
        public int Refs;
        public int Pins;
        public bool HwPoison;
    }
}
