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
        ulong first;
        lock (_lock)
        {
            if (!TryFindFreeRun((ulong)frames, out first))
            {
                Log.NoContiguousRun(_logger, frames, _base);
                pa = 0;
                return false;
            }
            ulong end = first + (ulong)frames;
            // Untouched frames skipped over become ordinary free frames; the run leaves the free stack.
            for (ulong i = _nextUntouched; i < first; i++)
                _freed.Push(i);
            if (end > _nextUntouched)
                _nextUntouched = end;
            var rest = _freed.Where(i => i < first || i >= end).Reverse().ToArray();
            _freed.Clear();
            foreach (ulong i in rest)
                _freed.Push(i);
            for (ulong i = first; i < end; i++)
                _allocated[i / 64] |= 1UL << (int)(i % 64);
            _inUse += frames;
            _totalAllocs += frames;
            if (_inUse > _peak)
                _peak = _inUse;
        }
        pa = _base + (first << Page.Shift);
        _memory.Fill(pa, (ulong)frames << Page.Shift, 0);
        for (int i = 0; i < frames; i++)
            FrameAllocated?.Invoke(pa + ((ulong)i << Page.Shift));
        return true;
    }

    // First fit over the bitmap; frames at or past _nextUntouched are free by construction.
    private bool TryFindFreeRun(ulong frames, out ulong first)
    {
        ulong run = 0;
        for (ulong i = 0; i < _frameCount; i++)
        {
            if (i >= _nextUntouched && _frameCount - i >= frames - run)
            {
                first = i - run;
                return true;
            }
            run = (_allocated[i / 64] & (1UL << (int)(i % 64))) == 0 ? run + 1 : 0;
            if (run == frames)
            {
                first = i + 1 - frames;
                return true;
            }
        }
        first = 0;
        return false;
    }

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
