using Driver.Kernel;
using Driver.Kernel.Kvm;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// Seed 004's flow: the IOMMU side is a guest_memfd notifier. On a conversion to shared its
/// should_proceed zaps the page from the trusted device's table (the 2 MiB IOPTE is first cut without
/// a gap, since unmap never splits a large page, then the 4 KiB page is unmapped and flushed);
/// execute_work splits the RMP and makes the page shared; after the conversion to private the VMM maps
/// the page into the trusted table again. On AMD the IOMMU change still comes before the RMP change,
/// so the same window as <c>sequenced</c> opens, and the page itself is unmapped between the steps.
/// </summary>
internal sealed class GmemNotifyStrategy : ConversionStrategy, IGuestMemfdNotifier
{
    private IDisposable? _subscription;

    public override string Name => StrategyNames.GmemNotify;

    public override void Attach(Testbed bed, StrategyCounters counters)
    {
        base.Attach(bed, counters);
        _subscription?.Dispose();
        _subscription = bed.Gmem!.AddNotifier(this, 0, bed.Options.GuestSize);
    }

    public override Errno AfterPrivate(ulong gpa) =>
        Bed.Core.Map(Bed.TrustedDomain!, gpa, Layout.Spa(Layout.PageOf(gpa)), GuestLayout.Page4K, ReadWrite);

    // Single kernel thread: nothing else can map the range between begin and end.
    public void InvalidateBegin(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
    }

    public Errno ShouldProceed(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
        if (reason != InvalidateReason.ToShared)
            return Errno.Ok;
        for (ulong offset = start; offset < end; offset += GuestLayout.Page4K)
        {
            ulong gpa = Layout.GpaBase + offset;
            var err = CutAround(gpa);
            if (err != Errno.Ok)
                return err;
            if (Bed.Core.Unmap(Bed.TrustedDomain!, gpa, GuestLayout.Page4K) != GuestLayout.Page4K)
                return Errno.EINVAL;
        }
        return Errno.Ok;
    }

    public void InvalidateEnd(GuestMemfd file, ulong start, ulong end, InvalidateReason reason)
    {
    }

    // Before a PSMASH of the run: its 2 MiB IOPTE is cut (hitless). A conversion's should_proceed has already cut it.
    public Errno SplitHuge(GuestMemfd file, ulong start, ulong end)
    {
        ulong gpa = Layout.GpaBase + start;
        int block = GuestLayout.BlockOfPage(Layout.PageOf(gpa));
        if (Layout.IoSplit[block])
            return Errno.Ok;
        var err = Bed.TrustedTable.Cut(gpa + GuestLayout.Page4K);
        if (err == Errno.Ok)
            Layout.IoSplit[block] = true;
        return err;
    }
}
