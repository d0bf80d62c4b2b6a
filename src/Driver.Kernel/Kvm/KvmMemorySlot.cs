namespace Driver.Kernel.Kvm;

/// <summary>
/// A memslot: guest-physical pages [BaseGfn, BaseGfn + Pages) backed by a guest_memfd range.
/// While guest_memfd invalidates a part of it no new stage-2 entry may be made there.
/// </summary>
public sealed class KvmMemorySlot : IGuestMemfdNotifier
{
    private int _invalidating;

    internal KvmMemorySlot(int id, ulong baseGfn, ulong pages)
    {
        Id = id;
        BaseGfn = baseGfn;
        Pages = pages;
    }

    public int Id { get; }

    public ulong BaseGfn { get; }

    public ulong Pages { get; }

    /// <summary>The binding to the guest_memfd range; set once the slot is bound.</summary>
    public GuestMemfdBinding? Binding { get; internal set; }

    /// <summary>Invalidations begun and not yet ended (mmu_invalidate_in_progress).</summary>
    public int InvalidationsInProgress => Volatile.Read(ref _invalidating);

    /// <summary>Invalidations seen, by reason: what a stage-2 MMU would have zapped.</summary>
    public int[] Invalidations { get; } = new int[3];

    public bool Contains(ulong gfn) => gfn >= BaseGfn && gfn - BaseGfn < Pages;

    public void InvalidateBegin(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        Interlocked.Increment(ref _invalidating);
        Interlocked.Increment(ref Invalidations[(int)reason]);
    }

    // No stage-2 table yet: nothing is mapped, so nothing to zap.
    public Errno ShouldProceed(GuestMemfd file, ulong start, ulong end, InvalidateReason reason) => Errno.Ok;

    public void InvalidateEnd(GuestMemfd file, ulong start, ulong end, InvalidateReason reason) =>
        Interlocked.Decrement(ref _invalidating);
}
