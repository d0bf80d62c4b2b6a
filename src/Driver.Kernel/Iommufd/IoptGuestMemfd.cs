using Driver.Kernel.Iommu;
using Driver.Kernel.Kvm;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// The guest_memfd behind one area (the binding proposed in seed 004, not upstream): file bytes
/// from <see cref="Offset"/> on at the area's IOVA. Its domains map the frames guest_memfd
/// reports, with no reference and no pin; a guest-private domain (a TDI's) maps the private
/// pages, any other domain the shared ones. It is guest_memfd's invalidation notifier for the
/// range: <see cref="InvalidateBegin"/> holds off user space's map, unmap and copy touching the
/// area (EAGAIN), <see cref="ShouldProceed"/> zaps what the reason takes away, strictly flushed,
/// and <see cref="InvalidateEnd"/> maps the range again for its new state when
/// <see cref="KernelRemap"/> is set (otherwise user space re-issues the command with Refresh);
/// <see cref="SplitHuge"/> cuts 2M pages to 4K before the RMP entry under them is smashed.
/// </summary>
public sealed class IoptGuestMemfd : IGuestMemfdNotifier
{
    private readonly IoPageTable _iopt;
    private readonly ILogger _logger;
    private IDisposable? _subscription;

    internal IoptGuestMemfd(IoPageTable iopt, IoptArea area, IGuestMemfdPages file, ulong offset, bool kernelRemap, ILogger logger)
    {
        _iopt = iopt;
        Area = area;
        File = file;
        Offset = offset;
        KernelRemap = kernelRemap;
        _logger = logger;
    }

    public IoptArea Area { get; }

    public IGuestMemfdPages File { get; }

    /// <summary>Byte offset in the file of the area's first IOVA.</summary>
    public ulong Offset { get; }

    /// <summary>The kernel maps the range again once an invalidation ends (else user space does, with Refresh).</summary>
    public bool KernelRemap { get; }

    /// <summary>Whether guest_memfd tells this binding of its invalidations (false only with the test switch).</summary>
    public bool Subscribed => _subscription is not null;

    /// <summary>Invalidations begun and not yet ended: while non-zero, user space may not change the area's mappings.</summary>
    public int InvalidationsInProgress { get; private set; }

    /// <summary>Invalidations seen, by reason.</summary>
    public int[] Invalidations { get; } = new int[3];

    /// <summary>The file offset of <paramref name="iova"/> (inside the area).</summary>
    public ulong FileOffsetOf(ulong iova) => Offset + (iova - Area.Iova);

    /// <summary>Page <paramref name="iova"/> of the area if its state lets a domain of this kind map it.</summary>
    internal bool Eligible(ulong iova, bool guestPrivate, out GuestMemfdPage page) =>
        File.Lookup(FileOffsetOf(iova) >> 12, out page) && page.Shared != guestPrivate;

    internal void Subscribe() => _subscription = File.AddNotifier(this, Offset, Offset + Area.Length);

    internal void Unsubscribe()
    {
        _subscription?.Dispose();
        _subscription = null;
    }

    public void InvalidateBegin(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        InvalidationsInProgress++;
        Invalidations[(int)reason]++;
    }

    public Errno ShouldProceed(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        if (!Overlap(start, end, out ulong iova, out ulong last))
            return Errno.Ok;
        int zapped = 0;
        foreach (IommuDomain domain in _iopt.Domains.ToArray())
        {
            bool guestPrivate = _iopt.IsGuestPrivate(domain);
            // To shared: the private mappings go; to private: the shared ones; a truncation takes both.
            bool affected = reason switch
            {
                InvalidateReason.ToShared => guestPrivate,
                InvalidateReason.ToPrivate => !guestPrivate,
                _ => true,
            };
            if (!affected)
                continue;
            _iopt.ZapGuestMemfd(domain, Area, iova, last);
            zapped++;
        }
        Log.GmemZapped(_logger, reason, iova, last - iova + 1, zapped);
        return Errno.Ok;
    }

    public void InvalidateEnd(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        InvalidationsInProgress--;
        if (!KernelRemap || !Overlap(start, end, out ulong iova, out ulong last))
            return;
        Errno err = _iopt.RefreshGuestMemfd(Area, iova, last);
        if (err != Errno.Ok)
            Log.GmemRemapFailed(_logger, iova, last - iova + 1, err);
        else
            Log.GmemRemapped(_logger, reason, iova, last - iova + 1);
    }

    /// <summary>
    /// Before the run's RMP entry is smashed: every domain's 2M page over it becomes 4K pages of the same frames with
    /// one iommupt Cut, flushed (a domain that cannot cut has the page zapped and mapped again at 4K, which DMA to the
    /// run may see as faults). The first errno stops it, and then the smash.
    /// </summary>
    public Errno SplitHuge(GuestMemfd file, ulong start, ulong end)
    {
        if (!Overlap(start, end, out ulong iova, out ulong last))
            return Errno.Ok;
        int split = 0;
        foreach (IommuDomain domain in _iopt.Domains.ToArray())
        {
            Errno err = _iopt.SplitGuestMemfd(domain, Area, iova, last);
            if (err != Errno.Ok)
            {
                Log.GmemSplitFailed(_logger, iova, err);
                return err;
            }
            split++;
        }
        Log.GmemSplit(_logger, iova, split);
        return Errno.Ok;
    }

    // The part of the area that file bytes [start, end) cover.
    private bool Overlap(ulong start, ulong end, out ulong iova, out ulong last)
    {
        ulong from = Math.Max(start, Offset);
        ulong to = Math.Min(end, Offset + Area.Length);
        iova = last = 0;
        if (from >= to)
            return false;
        iova = Area.Iova + (from - Offset);
        last = Area.Iova + (to - Offset) - 1;
        return true;
    }

    /// <summary>The pages object of a binding's area: guest_memfd pages are never pinned, so in-kernel accesses are refused.</summary>
    internal sealed class NoPins : IPageProvider
    {
        public static readonly NoPins Instance = new();

        public Errno Pin(ulong index, int count, bool write, Span<ulong> pfns) => Errno.EOPNOTSUPP;

        public void Unpin(ReadOnlySpan<ulong> pfns) => throw new InvalidOperationException("BUG: a guest_memfd binding was pinned");
    }
}
