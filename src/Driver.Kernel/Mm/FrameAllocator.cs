using System.Numerics;
using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Mm;

/// <summary>
/// The frame allocator for one contiguous zone of physical memory, the way
/// memblock hands a zone to the page allocator. Frames are zeroed when handed
/// out. A bitmap of allocated frames catches double frees (BUG_ON), and the
/// counters let a test prove that nothing leaked.
/// </summary>
public sealed class FrameAllocator : IFrameAllocator
{
    private readonly IPhysicalMemory _memory;
    private readonly ulong _base;
    private readonly ulong _frameCount;
    private readonly ulong[] _allocated;
    private readonly Stack<ulong> _freed = new();
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private ulong _nextUntouched;
    private ulong _searchHint;
    private long _inUse;
    private long _peak;
    private long _totalAllocs;
    private long _totalFrees;

    public FrameAllocator(IPhysicalMemory memory, ulong basePa, ulong size, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if ((basePa & Page.Mask) != 0 || (size & Page.Mask) != 0 || size == 0)
            throw new ArgumentException("the zone must be a non-empty run of whole frames");
        if (basePa >= IPhysicalMemory.Limit || size > IPhysicalMemory.Limit - basePa)
            throw new ArgumentOutOfRangeException(nameof(size), "the zone lies outside physical memory");
        _memory = memory;
        _base = basePa;
        _frameCount = size >> Page.Shift;
        _allocated = new ulong[(_frameCount + 63) / 64];
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Mm.FrameAllocator");
    }

    /// <summary>Raised after a frame is handed out and zeroed, with its address: it is a live table again.</summary>
    public event Action<ulong>? FrameAllocated;

    /// <summary>Raised after a frame is freed, with its address: lets the platform watch for use after free.</summary>
    public event Action<ulong>? FrameFreed;

    public ulong BasePa => _base;

    public ulong FrameCount => _frameCount;

    public long FramesInUse => Interlocked.Read(ref _inUse);

    /// <summary>The most frames ever in use at once.</summary>
    public long PeakFramesInUse => Interlocked.Read(ref _peak);

    public long TotalAllocs => Interlocked.Read(ref _totalAllocs);

    public long TotalFrees => Interlocked.Read(ref _totalFrees);

    /// <summary>True when <paramref name="pa"/> is an allocated frame of this zone.</summary>
    public bool IsAllocated(ulong pa)
    {
        if (!TryIndex(pa, out ulong index))
            return false;
        lock (_lock)
            return (_allocated[index / 64] & (1UL << (int)(index % 64))) != 0;
    }

    public bool TryAlloc(out ulong pa)
    {
        ulong index;
        lock (_lock)
        {
            while (_freed.Count > 0 && IsSet(_freed.Peek()))
                _freed.Pop();
            if (_freed.Count > 0)
                index = _freed.Pop();
            else if (_nextUntouched < _frameCount)
                index = _nextUntouched++;
            else
            {
                pa = 0;
                Log.OutOfFrames(_logger, _base, _frameCount);
                return false;
            }
            _allocated[index / 64] |= 1UL << (int)(index % 64);
            if (index == _searchHint)
                _searchHint++;
            _inUse++;
            _totalAllocs++;
            if (_inUse > _peak)
                _peak = _inUse;
        }
        pa = _base + (index << Page.Shift);
        _memory.Fill(pa, Page.Size, 0);
        FrameAllocated?.Invoke(pa);
        return true;
    }

    public bool TryAllocContiguous(int frames, out ulong pa)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        return TryAllocRun((ulong)frames, 1, out pa);
    }

    /// <summary>An aligned run found in the bitmap itself: no frames taken beyond the folio.</summary>
    public bool TryAllocAligned(int frames, out ulong pa)
    {
        if (frames < 1 || (frames & (frames - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(frames), "an aligned run is a power of two of frames");
        return TryAllocRun((ulong)frames, (ulong)frames, out pa);
    }

    private bool TryAllocRun(ulong frames, ulong align, out ulong pa)
    {
        ulong first;
        lock (_lock)
        {
            if (!TryFindFreeRun(frames, align, out first))
            {
                Log.NoContiguousRun(_logger, (int)frames, _base);
                pa = 0;
                return false;
            }
            ulong end = first + frames;
            // Untouched frames skipped over become ordinary free frames. The run's frames may still sit on
            // the free stack: TryAlloc skips them there (their bit is set), and a compaction drops them.
            for (ulong i = _nextUntouched; i < first; i++)
                _freed.Push(i);
            if (end > _nextUntouched)
                _nextUntouched = end;
            SetRange(first, end);
            if (first == _searchHint)
                _searchHint = end;
            _inUse += (long)frames;
            _totalAllocs += (long)frames;
            if (_inUse > _peak)
                _peak = _inUse;
            CompactFreedIfStale();
        }
        pa = _base + (first << Page.Shift);
        _memory.Fill(pa, frames << Page.Shift, 0);
        if (FrameAllocated is { } allocated)
        {
            for (ulong i = 0; i < frames; i++)
                allocated(pa + (i << Page.Shift));
        }
        return true;
    }

    // First fit over the bitmap, a word at a time, from the search hint (every frame below it is
    // allocated); frames at or past _nextUntouched are free by construction. A candidate start is
    // aligned in physical address to `align` frames.
    private bool TryFindFreeRun(ulong frames, ulong align, out ulong first)
    {
        ulong baseFrame = _base >> Page.Shift;
        ulong i = FindClear(_searchHint);
        _searchHint = i;
        while (true)
        {
            i = AlignUp(i, baseFrame, align);
            if (i >= _frameCount || _frameCount - i < frames)
            {
                first = 0;
                return false;
            }
            ulong end = i + frames;
            ulong set = FindSet(i, Math.Min(end, _nextUntouched));
            if (set >= Math.Min(end, _nextUntouched))
            {
                first = i;
                return true;
            }
            i = FindClear(set + 1);
        }
    }

    private static ulong AlignUp(ulong index, ulong baseFrame, ulong align)
    {
        if (align == 1)
            return index;
        ulong frame = baseFrame + index;
        return ((frame + align - 1) & ~(align - 1)) - baseFrame;
    }

    // The first allocated frame in [from, to), or `to`.
    private ulong FindSet(ulong from, ulong to)
    {
        while (from < to)
        {
            ulong word = _allocated[from / 64] >> (int)(from % 64);
            if (word != 0)
                return Math.Min(to, from + (ulong)BitOperations.TrailingZeroCount(word));
            from = (from | 63) + 1;
        }
        return to;
    }

    // The first free frame at or after `from` (frames past _nextUntouched are free), or _frameCount.
    private ulong FindClear(ulong from)
    {
        while (from < _nextUntouched)
        {
            ulong word = ~_allocated[from / 64] >> (int)(from % 64);
            if (word != 0)
                return Math.Min(_nextUntouched, from + (ulong)BitOperations.TrailingZeroCount(word));
            from = (from | 63) + 1;
        }
        return Math.Min(from, _frameCount);
    }

    private void SetRange(ulong first, ulong end)
    {
        for (ulong i = first; i < end;)
        {
            int bit = (int)(i % 64);
            int count = (int)Math.Min(64UL - (ulong)bit, end - i);
            ulong mask = count == 64 ? ulong.MaxValue : ((1UL << count) - 1) << bit;
            _allocated[i / 64] |= mask;
            i += (ulong)count;
        }
    }

    // Runs leave their frames on the free stack; once most of the stack is such stale entries
    // (or repeats), it is rebuilt with each free frame once, in the same order.
    private void CompactFreedIfStale()
    {
        long free = (long)_nextUntouched - _inUse;
        if (_freed.Count <= 64 || _freed.Count <= 2 * free)
            return;
        var seen = new HashSet<ulong>();
        var keep = new List<ulong>();
        foreach (ulong i in _freed)
        {
            if (!IsSet(i) && seen.Add(i))
                keep.Add(i);
        }
        _freed.Clear();
        for (int k = keep.Count - 1; k >= 0; k--)
            _freed.Push(keep[k]);
    }

    private bool IsSet(ulong index) => (_allocated[index / 64] & (1UL << (int)(index % 64))) != 0;

    public void Free(ulong pa)
    {
        if (!TryIndex(pa, out ulong index))
        {
            Log.FreeOutsideZone(_logger, pa, _base);
            throw new InvalidOperationException($"BUG: freeing 0x{pa:x}, which is not a frame of this zone");
        }
        lock (_lock)
        {
            ref ulong word = ref _allocated[index / 64];
            ulong bit = 1UL << (int)(index % 64);
            if ((word & bit) == 0)
            {
                Log.DoubleFree(_logger, pa);
                throw new InvalidOperationException($"BUG: double free of frame 0x{pa:x}");
            }
            word &= ~bit;
            _freed.Push(index);
            if (index < _searchHint)
                _searchHint = index;
            _inUse--;
            _totalFrees++;
        }
        FrameFreed?.Invoke(pa);
    }

    private bool TryIndex(ulong pa, out ulong index)
    {
        index = (pa - _base) >> Page.Shift;
        return pa >= _base && (pa & Page.Mask) == 0 && index < _frameCount;
    }
}
