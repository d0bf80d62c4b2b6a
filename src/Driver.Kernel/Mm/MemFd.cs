using Driver.Hw.Interfaces;

namespace Driver.Kernel.Mm;

/// <summary>
/// A memfd (memfd_create's shmem file): pages by offset, allocated on first use, each held by
/// the file's page cache with one reference. Opened through <see cref="MemFdHandle"/>s; the
/// file lives while a handle or a mapping holds it, and then drops its page references (pages
/// still mapped or pinned elsewhere keep their frames until those go). Thread-safe.
/// </summary>
public sealed class MemFd : IUserMappable
{
    /// <summary>The largest size a memfd may have (MAX_LFS_FILESIZE is larger; this keeps page indices in range).</summary>
    public const ulong MaxSize = 1UL << 52;

    private readonly IPhysicalMemory _memory;
    private readonly Dictionary<ulong, ulong> _cache = [];
    private readonly Lock _lock = new();
    private readonly FileMappers _mappers = new();
    private ulong _size;
    private int _users;
    private bool _released;

    private MemFd(PageCounts pages, IPhysicalMemory memory, ulong size)
    {
        Pages = pages;
        _memory = memory;
        _size = size;
    }

    public PageCounts Pages { get; }

    /// <summary>The file's size in bytes.</summary>
    public ulong Size
    {
        get
        {
            lock (_lock)
                return _size;
        }
    }

    /// <summary>Pages in the page cache.</summary>
    public int CachedPages
    {
        get
        {
            lock (_lock)
                return _cache.Count;
        }
    }

    /// <summary>False once the last handle and mapping went away.</summary>
    public bool Alive
    {
        get
        {
            lock (_lock)
                return _users > 0;
        }
    }

    /// <summary>memfd_create and ftruncate: a read-write handle of a new file of <paramref name="size"/> bytes; EINVAL above <see cref="MaxSize"/>.</summary>
    public static Errno Create(PageCounts pages, IPhysicalMemory memory, ulong size, out MemFdHandle? handle)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(memory);
        handle = null;
        if (size > MaxSize)
            return Errno.EINVAL;
        if (pages.InjectFailure())
            return Errno.ENOMEM;
        var file = new MemFd(pages, memory, size);
        handle = file.Open(writable: true);
        return Errno.Ok;
    }

    /// <summary>Another open file of the same memfd (as opening /proc/self/fd/N), read-only or read-write.</summary>
    public MemFdHandle Open(bool writable)
    {
        lock (_lock)
        {
            if (_released)
                throw new InvalidOperationException("BUG: opening a memfd that was released");
            _users++;
        }
        return new MemFdHandle(this, writable);
    }

    /// <summary>
    /// ftruncate: a new size. Shrinking drops the pages past the end from the cache and from every
    /// mapping (pins keep their frames). EINVAL above <see cref="MaxSize"/>.
    /// </summary>
    public Errno Truncate(ulong size)
    {
        if (size > MaxSize)
            return Errno.EINVAL;
        var dropped = new List<ulong>();
        lock (_lock)
        {
            ulong firstGone = (size + Page.Mask) >> Page.Shift;
            ulong oldEnd = (_size + Page.Mask) >> Page.Shift;
            _size = size;
            if (firstGone < oldEnd)
            {
                _mappers.Zap(this, firstGone, oldEnd);
                foreach (var (index, pfn) in _cache.Where(p => p.Key >= firstGone).ToArray())
                {
                    _cache.Remove(index);
                    dropped.Add(pfn);
                }
            }
            // A page that straddles the new end keeps only the bytes before it.
            if ((size & Page.Mask) != 0 && _cache.TryGetValue(size >> Page.Shift, out ulong tail))
                _memory.Fill((tail << Page.Shift) + (size & Page.Mask), Page.Size - (size & Page.Mask), 0);
        }
        foreach (ulong pfn in dropped)
            Pages.Put(pfn);
        return Errno.Ok;
    }

    /// <summary>
    /// Pins <paramref name="count"/> pages from <paramref name="offset"/> (memfd_pin_folios), allocating
    /// holes; EINVAL for an unaligned offset, a short span or a range past the end of the file; ENOMEM.
    /// On error nothing is left pinned.
    /// </summary>
    public Errno PinPages(ulong offset, int count, bool write, Span<ulong> pfns)
    {
        _ = write; // the file's open mode is checked by the handle
        if ((offset & Page.Mask) != 0 || count < 0 || pfns.Length < count)
            return Errno.EINVAL;
        lock (_lock)
        {
            ulong first = offset >> Page.Shift;
            if (offset > _size || (ulong)count > ((_size + Page.Mask) >> Page.Shift) - first)
                return Errno.EINVAL;
            if (count > 0 && Pages.InjectFailure())
                return Errno.ENOMEM;
            for (int i = 0; i < count; i++)
            {
                Errno e = GetLocked(first + (ulong)i, out ulong pfn);
                if (e != Errno.Ok)
                {
                    Pages.Unpin(pfns[..i]);
                    pfns[..i].Clear();
                    return e;
                }
                Pages.Pin(pfn);
                pfns[i] = pfn;
            }
        }
        return Errno.Ok;
    }

    /// <summary>Releases pins taken by <see cref="PinPages"/>.</summary>
    public void UnpinPages(ReadOnlySpan<ulong> pfns) => Pages.Unpin(pfns);

    /// <summary>pread: EINVAL past the end of the file; a hole reads as zeros.</summary>
    public Errno Read(ulong offset, Span<byte> destination)
    {
        lock (_lock)
        {
            if (offset > _size || (ulong)destination.Length > _size - offset)
                return Errno.EINVAL;
            int done = 0;
            while (done < destination.Length)
            {
                ulong at = offset + (ulong)done;
                int chunk = (int)Math.Min(Page.Size - (at & Page.Mask), (ulong)(destination.Length - done));
                if (_cache.TryGetValue(at >> Page.Shift, out ulong pfn))
                    _memory.Read((pfn << Page.Shift) + (at & Page.Mask), destination.Slice(done, chunk));
                else
                    destination.Slice(done, chunk).Clear();
                done += chunk;
            }
        }
        return Errno.Ok;
    }

    /// <summary>pwrite inside the file's size: EINVAL past the end, ENOMEM when a hole cannot be filled.</summary>
    public Errno Write(ulong offset, ReadOnlySpan<byte> source)
    {
        lock (_lock)
        {
            if (offset > _size || (ulong)source.Length > _size - offset)
                return Errno.EINVAL;
            int done = 0;
            while (done < source.Length)
            {
                ulong at = offset + (ulong)done;
                int chunk = (int)Math.Min(Page.Size - (at & Page.Mask), (ulong)(source.Length - done));
                Errno e = GetLocked(at >> Page.Shift, out ulong pfn);
                if (e != Errno.Ok)
                    return e;
                _memory.Write((pfn << Page.Shift) + (at & Page.Mask), source.Slice(done, chunk));
                done += chunk;
            }
        }
        return Errno.Ok;
    }

    /// <summary>The page cache's page at <paramref name="index"/>, if present.</summary>
    public bool TryFindPage(ulong index, out ulong pfn)
    {
        lock (_lock)
            return _cache.TryGetValue(index, out pfn);
    }

    Errno IUserMappable.FaultPage(ulong index, bool write, out ulong pfn)
    {
        lock (_lock)
        {
            pfn = 0;
            if (index >= (_size + Page.Mask) >> Page.Shift)
                return Errno.EFAULT;
            Errno e = GetLocked(index, out pfn);
            if (e == Errno.Ok)
                Pages.Get(pfn);
            return e;
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

    internal void RemoveUser()
    {
        ulong[] dropped;
        lock (_lock)
        {
            if (--_users > 0)
                return;
            dropped = [.. _cache.Values];
            _cache.Clear();
            _released = true;
        }
        foreach (ulong pfn in dropped)
            Pages.Put(pfn);
    }

    private Errno GetLocked(ulong index, out ulong pfn)
    {
        if (_cache.TryGetValue(index, out pfn))
            return Errno.Ok;
        Errno e = Pages.AllocPage(out pfn);
        if (e == Errno.Ok)
            _cache.Add(index, pfn);
        return e;
    }
}
