using Driver.Kernel.Mm;

namespace Driver.Kernel.Kvm;

/// <summary>What the IOMMU binding proposed in seed 004 reads of a guest_memfd.</summary>
public sealed partial class GuestMemfd
{
    /// <summary>
    /// Page <paramref name="index"/>'s frame, its folio's order and whether it is shared, when the
    /// page is present: no allocation and no reference (the binding relies on guest_memfd's own
    /// lifetime and its invalidation notifiers instead of pins). False for a hole, a poisoned page,
    /// an index past the end or a file that is gone. Callable from a notifier, with the invalidate
    /// lock already held by this thread; otherwise the lock is taken shared, as get_pfn takes it.
    /// </summary>
    public bool LookupPage(ulong index, out ulong pfn, out int order, out bool shared)
    {
        pfn = 0;
        order = 0;
        shared = false;
        bool take = !_invalidateLock.IsWriteLockHeld && !_invalidateLock.IsReadLockHeld;
        if (take)
            _invalidateLock.EnterReadLock();
        try
        {
            lock (_lock)
            {
                if (_released || index >= Size >> Page.Shift || FindFolio(index) is not { } folio)
                    return false;
                ulong frame = folio.PfnOf(index);
                if (_pages.IsHwPoison(frame))
                    return false;
                pfn = frame;
                order = folio.Order;
                shared = _shareability.IsShared(index);
                return true;
            }
        }
        finally
        {
            if (take)
                _invalidateLock.ExitReadLock();
        }
    }
}
