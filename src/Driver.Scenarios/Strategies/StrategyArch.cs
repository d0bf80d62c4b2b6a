using Driver.Kernel;
using Driver.Kernel.Kvm;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// guest_memfd's architecture hook for the run's SNP guest: each RMP step of a conversion is the
/// strategy's (KVM's own SnpGuestMemfdArch does one fixed order; the strategies differ in exactly
/// that). The pages are made the guest's at boot by the strategy, so fault-in prepares nothing and
/// reports the folio's order, capped at 4 KiB where the RMP entry is. A folio merge leaves the RMP at
/// 4 KiB: the page the guest just got back is not validated yet, so the 512 entries cannot be one
/// 2 MiB entry; the next split finds them split. A rollback's unsplit leaves them split too, which the strategy's state records.
/// </summary>
internal sealed class StrategyArch(GuestLayout layout, IConversionStrategy strategy) : IGuestMemfdArch
{
    private const int PageShift = 12;

    public Errno SplitFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order) =>
        layout.TryPageOf(firstPfn << PageShift, out ulong page) ? strategy.SplitRmp(GuestLayout.BlockOfPage(page)) : Errno.EINVAL;

    public Errno UnsplitFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order) => Errno.Ok;

    public Errno MergeFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order) => Errno.Ok;

    public Errno MakeShared(GuestMemfd file, ulong index, ulong pfn) =>
        layout.TryPageOf(pfn << PageShift, out ulong page) ? strategy.MakeShared(page) : Errno.EINVAL;

    public Errno MakePrivate(GuestMemfd file, ulong index, ulong pfn) =>
        layout.TryPageOf(pfn << PageShift, out ulong page) ? strategy.MakePrivate(page) : Errno.EINVAL;

    public bool IsHuge(ulong pfn) => layout.RmpIsHuge(pfn << PageShift);

    public Errno SmashHuge(ulong headPfn) =>
        layout.TryPageOf(headPfn << PageShift, out ulong page) ? strategy.SplitRmp(GuestLayout.BlockOfPage(page)) : Errno.EINVAL;

    // Stage 2 may map the folio at 2 MiB only over one 2 MiB RMP entry (KVM's max mapping level on SNP).
    public Errno Prepare(ulong gfn, ulong pfn, int order, out int mappableOrder)
    {
        mappableOrder = IsHuge(pfn) ? order : 0;
        return Errno.Ok;
    }

    // The run ends with its machine: nothing is handed back to an allocator that outlives it.
    public Errno Invalidate(ulong firstPfn, int order) => Errno.Ok;
}
