using Driver.Kernel;
using Driver.Kernel.Kvm;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// guest_memfd's architecture hook for the run's SNP guest: each RMP step of a conversion is the
/// strategy's. A folio merge leaves the RMP at 4 KiB: the page the guest just got back is not
/// validated yet, so the 512 entries cannot be one 2 MiB entry; the next split finds them split.
/// </summary>
internal sealed class StrategyArch(GuestLayout layout, IConversionStrategy strategy) : IGuestMemfdArch
{
    private const int PageShift = 12;

    public Errno SplitFolio(ulong firstPfn, int order) =>
        layout.TryPageOf(firstPfn << PageShift, out ulong page) ? strategy.SplitRmp(GuestLayout.BlockOfPage(page)) : Errno.EINVAL;

    public Errno MergeFolio(ulong firstPfn, int order) => Errno.Ok;

    public Errno MakeShared(ulong pfn) => layout.TryPageOf(pfn << PageShift, out ulong page) ? strategy.MakeShared(page) : Errno.EINVAL;

    public Errno MakePrivate(ulong pfn) => layout.TryPageOf(pfn << PageShift, out ulong page) ? strategy.MakePrivate(page) : Errno.EINVAL;
}
