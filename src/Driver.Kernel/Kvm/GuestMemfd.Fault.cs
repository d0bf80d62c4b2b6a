namespace Driver.Kernel.Kvm;

/// <summary>get_pfn as KVM's fault path uses it: with the page prepared for the guest and the largest order it may be mapped at.</summary>
public sealed partial class GuestMemfd
{
    /// <summary>
    /// kvm_gmem_get_pfn with kvm_gmem_prepare_folio, for a fault of guest frame <paramref name="gfn"/> on file page
    /// <paramref name="index"/>: the frame, and the largest order it may be mapped at: its folio's, capped by the
    /// architecture (SNP: the RMP entry's size) and at 4K unless the folio's whole 2M has one attribute. EAGAIN
    /// when the page's state is no longer <paramref name="isPrivate"/> (a conversion won the race); else
    /// get_pfn's errnos and the architecture's.
    /// </summary>
    internal Errno GetPfnForFault(GuestMemfdBinding binding, ulong index, ulong gfn, bool isPrivate, out ulong pfn, out int maxOrder)
    {
        pfn = 0;
        maxOrder = 0;
        _invalidateLock.EnterReadLock();
        try
        {
            lock (_lock)
            {
                Errno e = CheckPageLocked(binding, index);
                if (e != Errno.Ok)
                    return e;
                if (_shareability.IsShared(index) == isPrivate)
                    return Errno.EAGAIN;
                e = FolioPfnLocked(index, out GuestMemfdFolio? folio, out ulong found);
                if (e != Errno.Ok)
                    return e;
                int order = folio!.Order;
                if (isPrivate && _arch is not null)
                {
                    e = _arch.Prepare(gfn, found, order, out int mappable);
                    if (e != Errno.Ok)
                        return e;
                    order = Math.Min(order, mappable);
                }
                ulong block = index & ~(GuestMemfdFolio.HugePages - 1);
                if (order > 0 && (block + GuestMemfdFolio.HugePages > _shareability.Pages
                    || !_shareability.All(block, block + GuestMemfdFolio.HugePages, shared: !isPrivate)))
                    order = 0;
                pfn = found;
                maxOrder = order;
                return Errno.Ok;
            }
        }
        finally
        {
            _invalidateLock.ExitReadLock();
        }
    }
}
