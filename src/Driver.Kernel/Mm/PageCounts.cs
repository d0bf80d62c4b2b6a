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
/// <para>
/// A 2M-aligned block of 512 live pages with the same counts (a 2M folio just allocated) is one
/// record; a page of it whose counts come to differ is kept beside that record as an exception,
/// and the block is one record again when its exceptions go. Other pages have a record each.
/// </para>
/// </summary>
public sealed class PageCounts
{
    private const int BlockShift = 9;
    private const int PagesPerBlock = 1 << BlockShift;
    private const ulong BlockMask = PagesPerBlock - 1;

    private readonly IFrameAllocator _frames;
    private readonly Dictionary<ulong, Meta> _pages = [];
    private readonly Dictionary<ulong, Block> _blocks = [];
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private long _totalPins;
    private int _livePages;

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
                return _livePages;
        }
    }

    /// <summary>Records kept: one per uniform 2M block, one per page elsewhere or differing from its block.</summary>
    public int Records
    {
        get
        {
            lock (_lock)
                return _pages.Count + _blocks.Count + _blocks.Values.Sum(b => b.Exceptions?.Count ?? 0);
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
            Store(pfn, new Meta { Refs = 1 });
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
        if (InjectFailure() || !_frames.TryAllocAligned(count, out ulong pa))
        {
            Log.UserPageAllocFailed(_logger, count);
            return Errno.ENOMEM;
        }
        firstPfn = pa >> Page.Shift;
        lock (_lock)
        {
            if (count >= PagesPerBlock)
            {
                // Every page of these blocks was free, so none has a record: each block is one.
                for (ulong block = firstPfn >> BlockShift; block < (firstPfn + (ulong)count) >> BlockShift; block++)
                    _blocks.Add(block, new Block { Base = new Meta { Refs = 1 } });
                _livePages += count;
            }
            else
            {
                for (int i = 0; i < count; i++)
                    Store(firstPfn + (ulong)i, new Meta { Refs = 1 });
            }
        }
        return Errno.Ok;
    }

    /// <summary>Takes one more reference on a live page (get_page).</summary>
    public void Get(ulong pfn)
    {
        lock (_lock)
        {
            Meta meta = LiveMeta(pfn);
            meta.Refs++;
            Store(pfn, meta);
        }
    }

    /// <summary>Drops a reference (put_page); the last one frees the frame.</summary>
    public void Put(ulong pfn)
    {
        lock (_lock)
        {
            Meta meta = LiveMeta(pfn);
            if (meta.Refs == meta.Pins)
            {
                Log.PutOfPinnedReference(_logger, pfn);
                throw new InvalidOperationException($"BUG: put of pfn 0x{pfn:x} would drop a pin's reference");
            }
            meta.Refs--;
            Store(pfn, meta);
            if (meta.Refs > 0)
                return;
        }
        _frames.Free(pfn << Page.Shift);
    }

    /// <summary>Pins a live page: one pin and the reference that comes with it.</summary>
    public void Pin(ulong pfn)
    {
        lock (_lock)
        {
            Meta meta = LiveMeta(pfn);
            meta.Refs++;
            meta.Pins++;
            Store(pfn, meta);
        }
        Interlocked.Increment(ref _totalPins);
    }

    /// <summary>Releases one pin (unpin_user_page); the last reference frees the frame.</summary>
    public void Unpin(ulong pfn)
    {
        bool free;
        lock (_lock)
        {
            if (!TryRead(pfn, out Meta meta) || meta.Pins == 0)
            {
                Log.UnpinOfUnpinnedPage(_logger, pfn);
                throw new InvalidOperationException($"BUG: unpin of pfn 0x{pfn:x}, which is not pinned");
            }
            meta.Pins--;
            meta.Refs--;
            free = meta.Refs == 0;
            Store(pfn, meta);
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
            return TryRead(pfn, out Meta meta) ? meta.Refs : 0;
    }

    /// <summary>Pins on the page; 0 when it is not a live user page.</summary>
    public int PinCount(ulong pfn)
    {
        lock (_lock)
            return TryRead(pfn, out Meta meta) ? meta.Pins : 0;
    }

    /// <summary>True while the page holds its frame.</summary>
    public bool IsLive(ulong pfn)
    {
        lock (_lock)
            return TryRead(pfn, out _);
    }

    /// <summary>Marks a live page as poisoned (a memory failure): its users refuse it with EHWPOISON.</summary>
    public void SetHwPoison(ulong pfn)
    {
        lock (_lock)
        {
            Meta meta = LiveMeta(pfn);
            meta.HwPoison = true;
            Store(pfn, meta);
        }
    }

    /// <summary>True when the page is live and poisoned.</summary>
    public bool IsHwPoison(ulong pfn)
    {
        lock (_lock)
            return TryRead(pfn, out Meta meta) && meta.HwPoison;
    }

    private Meta LiveMeta(ulong pfn)
    {
        if (!TryRead(pfn, out Meta meta))
        {
            Log.NotAUserPage(_logger, pfn);
            throw new InvalidOperationException($"BUG: pfn 0x{pfn:x} is not a live user page");
        }
        return meta;
    }

    // A page's counts: its block's (or its exception there), else its own record. A dead page has none.
    private bool TryRead(ulong pfn, out Meta meta)
    {
        if (_blocks.TryGetValue(pfn >> BlockShift, out Block? block))
        {
            if (block.Exceptions is not { } exceptions || !exceptions.TryGetValue((int)(pfn & BlockMask), out meta))
                meta = block.Base;
            return meta.Refs > 0;
        }
        return _pages.TryGetValue(pfn, out meta);
    }

    // Sets a page's counts; Refs = 0 frees its record. Inside a block the page becomes or stops being
    // an exception, and a block whose pages all died goes.
    private void Store(ulong pfn, Meta meta)
    {
        if (!_blocks.TryGetValue(pfn >> BlockShift, out Block? block))
        {
            if (meta.Refs == 0)
            {
                if (_pages.Remove(pfn))
                    _livePages--;
            }
            else if (_pages.TryAdd(pfn, meta))
                _livePages++;
            else
                _pages[pfn] = meta;
            return;
        }
        int page = (int)(pfn & BlockMask);
        Meta old = block.Base;
        if (block.Exceptions is { } found && found.TryGetValue(page, out Meta exception))
            old = exception;
        if (old.Refs == 0 && meta.Refs > 0)
        {
            block.Dead--;
            _livePages++;
        }
        else if (old.Refs > 0 && meta.Refs == 0)
        {
            block.Dead++;
            _livePages--;
        }
        if (block.Dead == PagesPerBlock)
        {
            _blocks.Remove(pfn >> BlockShift);
            return;
        }
        if (meta.Equals(block.Base))
        {
            if (block.Exceptions is { } exceptions && exceptions.Remove(page) && exceptions.Count == 0)
                block.Exceptions = null;
            return;
        }
        var all = block.Exceptions ??= [];
        all[page] = meta;
        // Every page an exception with the same counts: that is the block's new base.
        if (all.Count == PagesPerBlock && all.Values.All(m => m.Equals(meta)))
        {
            block.Base = meta;
            block.Exceptions = null;
        }
    }

    private record struct Meta
    {
        public int Refs;
        public int Pins;
        public bool HwPoison;
    }

    private sealed class Block
    {
        public Meta Base;
        public Dictionary<int, Meta>? Exceptions;
        public int Dead;
    }
}
