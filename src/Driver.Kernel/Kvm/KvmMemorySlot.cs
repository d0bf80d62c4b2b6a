using Driver.Kernel.Mm;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A memslot: guest-physical pages [BaseGfn, BaseGfn + Pages) backed by a guest_memfd range.
/// While guest_memfd invalidates a part of it no new stage-2 entry may be made there: a fault in
/// the range, or one that began before an invalidation ended, is retried (Linux's
/// mmu_invalidate_in_progress and mmu_invalidate_seq, kept under the stage-2 lock). Its
/// should_proceed zaps the range's stage-2 leaves the reason asks for.
/// </summary>
public sealed class KvmMemorySlot : IGuestMemfdNotifier
{
    private const ulong HugePages = 512;

    private readonly KvmStage2? _stage2;
    private int _invalidating;
    private long _sequence;
    private ulong _rangeStart = ulong.MaxValue;
    private ulong _rangeEnd;

    internal KvmMemorySlot(int id, ulong baseGfn, ulong pages, KvmStage2? stage2 = null)
    {
        Id = id;
        BaseGfn = baseGfn;
        Pages = pages;
        _stage2 = stage2;
    }

    public int Id { get; }

    public ulong BaseGfn { get; }

    public ulong Pages { get; }

    /// <summary>The binding to the guest_memfd range; set once the slot is bound.</summary>
    public GuestMemfdBinding? Binding { get; internal set; }

    /// <summary>Invalidations begun and not yet ended (mmu_invalidate_in_progress).</summary>
    public int InvalidationsInProgress => Volatile.Read(ref _invalidating);

    /// <summary>Invalidations ended so far (mmu_invalidate_seq): a fault that read another value is retried.</summary>
    public long InvalidateSequence => Interlocked.Read(ref _sequence);

    /// <summary>Invalidations seen, by reason.</summary>
    public int[] Invalidations { get; } = new int[3];

    /// <summary>Stage-2 pages zapped by this slot's invalidations, by reason.</summary>
    public long[] Zapped { get; } = new long[3];

    public bool Contains(ulong gfn) => gfn >= BaseGfn && gfn - BaseGfn < Pages;

    /// <summary>The guest frame of file page <paramref name="index"/>, if the slot's binding holds it.</summary>
    public bool TryGetGfn(ulong index, out ulong gfn)
    {
        gfn = 0;
        if (Binding is not { } b || index < b.Offset >> Page.Shift || index - (b.Offset >> Page.Shift) >= Pages)
            return false;
        gfn = BaseGfn + (index - (b.Offset >> Page.Shift));
        return true;
    }

    /// <summary>The file page of guest frame <paramref name="gfn"/> (the slot must contain it).</summary>
    public ulong IndexOf(ulong gfn) => ((Binding?.Offset ?? 0) >> Page.Shift) + (gfn - BaseGfn);

    public void InvalidateBegin(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        Interlocked.Increment(ref Invalidations[(int)reason]);
        ToGfns(start, end, out ulong first, out ulong last);
        Locked(() =>
        {
            _invalidating++;
            _rangeStart = Math.Min(_rangeStart, first);
            _rangeEnd = Math.Max(_rangeEnd, last);
        });
    }

    public Errno ShouldProceed(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        if (_stage2 is null)
            return Errno.Ok;
        ToGfns(start, end, out ulong first, out ulong last);
        Stage2Zap which = reason switch
        {
            InvalidateReason.ToShared => Stage2Zap.Private,
            InvalidateReason.ToPrivate => Stage2Zap.Shared,
            _ => Stage2Zap.All,
        };
        Errno e = _stage2.Zap(first, last, which, out long zapped);
        Interlocked.Add(ref Zapped[(int)reason], zapped);
        return e;
    }

    public void InvalidateEnd(GuestMemfd file, ulong start, ulong end, InvalidateReason reason) =>
        Locked(() =>
        {
            _sequence++;
            if (--_invalidating == 0)
            {
                _rangeStart = ulong.MaxValue;
                _rangeEnd = 0;
            }
        });

    /// <summary>
    /// The stage-2 2M leaves over the run become 4K leaves (iommupt's hitless Cut, flushed) before its RMP entry is
    /// smashed. A fault that took the 2M order from get_pfn before the smash retries, since the sequence moves (as
    /// KVM's zap after a PSMASH moves it); one after it gets 4K.
    /// </summary>
    public Errno SplitHuge(GuestMemfd file, ulong start, ulong end)
    {
        if (_stage2 is null)
            return Errno.Ok;
        ToGfns(start, end, out ulong first, out ulong last);
        if (first >= last)
            return Errno.Ok;
        Locked(() => _sequence++);
        for (ulong gfn = first; gfn < last; gfn = (gfn | (HugePages - 1)) + 1)
        {
            Errno e = _stage2.Split(gfn);
            if (e != Errno.Ok)
                return e;
        }
        return Errno.Ok;
    }

    /// <summary>mmu_invalidate_retry_gfn: whether a fault of <paramref name="gfn"/> that read <paramref name="sequence"/> must retry. Under the stage-2 lock.</summary>
    internal bool MustRetry(ulong gfn, long sequence) =>
        (_invalidating > 0 && gfn >= _rangeStart && gfn < _rangeEnd) || _sequence != sequence;

    /// <summary>mmu_invalidate_retry_gfn_unsafe: the early check a fault makes before get_pfn, without the lock.</summary>
    internal bool InvalidatingUnsafe(ulong gfn) =>
        Volatile.Read(ref _invalidating) > 0 && gfn >= Volatile.Read(ref _rangeStart) && gfn < Volatile.Read(ref _rangeEnd);

    // File bytes [start, end) as the guest frames of this slot they cover.
    private void ToGfns(ulong start, ulong end, out ulong first, out ulong last)
    {
        ulong offset = Binding?.Offset ?? 0;
        ulong from = Math.Max(start, offset);
        ulong to = Math.Min(end, offset + (Pages << Page.Shift));
        first = BaseGfn + ((from - offset) >> Page.Shift);
        last = to > from ? BaseGfn + ((to - offset) >> Page.Shift) : first;
    }

    private void Locked(Action update)
    {
        if (_stage2 is null)
        {
            lock (Invalidations)
                update();
            return;
        }
        _stage2.UnderLock(update);
    }
}
