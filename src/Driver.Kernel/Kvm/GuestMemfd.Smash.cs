using Driver.Kernel.Mm;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A 2M entry of the architecture smashed while the file's users map its run at 2M: every smash goes through
/// guest_memfd under the invalidate lock held exclusively, the notifiers cutting their 2M mappings to 4K first
/// (<see cref="IGuestMemfdNotifier.SplitHuge"/>, part of the seed-004 proposal model), then the smash.
/// </summary>
public sealed partial class GuestMemfd
{
    /// <summary>
    /// A smash that no conversion asked for (SNP: sev_handle_rmp_fault's PSMASH after the guest touched page
    /// <paramref name="index"/> at 4K inside a 2M RMP entry). The invalidate lock comes first, as in a conversion,
    /// the architecture's own lock after it. The folio stays 2M. Ok without a smash when the page is a hole or the
    /// architecture has no 2M entry there; EFAULT when the file is gone or the page lies past its end; a
    /// notifier's errno with nothing smashed (cuts other notifiers already made stay: they map the same); the
    /// smash's errno.
    /// </summary>
    public Errno SmashHuge(ulong index)
    {
        _invalidateLock.EnterWriteLock();
        try
        {
            ulong headPfn;
            lock (_lock)
            {
                if (_released || index >= Size >> Page.Shift)
                    return Errno.EFAULT;
                if (_arch is null || FindFolio(index) is not { } folio)
                    return Errno.Ok;
                headPfn = folio.PfnOf(index) & ~(GuestMemfdFolio.HugePages - 1);
            }
            if (!_arch.IsHuge(headPfn))
                return Errno.Ok;
            ulong block = index & ~(GuestMemfdFolio.HugePages - 1);
            Errno e = SplitHugeMappingsLocked(block);
            if (e != Errno.Ok)
                return e;
            e = _arch.SmashHuge(headPfn);
            if (e == Errno.Ok)
                Log.HugeSmashed(_logger, block << Page.Shift);
            return e;
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
    }

    // Every notifier of the 2M run from page `block` cuts its 2M mappings to 4K; the first errno stops it. Under the
    // invalidate lock held exclusively, so no fault or conversion can map the run at 2M again before the smash.
    private Errno SplitHugeMappingsLocked(ulong block)
    {
        ulong start = block << Page.Shift;
        ulong end = start + (GuestMemfdFolio.HugePages << Page.Shift);
        foreach (Subscription s in Overlapping(start, end))
        {
            Errno e = s.Notifier.SplitHuge(this, start, end);
            if (e != Errno.Ok)
            {
                Log.SplitHugeRefused(_logger, start, e);
                return e;
            }
        }
        return Errno.Ok;
    }
}
