namespace Driver.Scenarios.Strategies;

/// <summary>
/// Seed 004's flow, through iommufd: the VMM binds the guest_memfd into the trusted device's IOAS with
/// IOAS_MAP_GUEST_MEMFD (kernel remap), and the binding is guest_memfd's notifier. On a conversion to
/// shared its should_proceed zaps the page from the guest-private HWPT (a 2 MiB IOPTE across it is cut
/// first, hitless, since unmap never splits a large page; then the 4 KiB page is unmapped and flushed);
/// execute_work splits the folio (the binding's split_huge cuts the 2 MiB IOPTE before the PSMASH) and
/// makes the page shared in the RMP; invalidate_end maps what the new state allows, which for a private
/// domain is nothing more. The return to private is mapped again by invalidate_end after the RMPUPDATE.
/// On AMD the IOMMU change still comes before the RMP change, so the same window as <c>sequenced</c>
/// opens, and the page itself is unmapped between the steps.
/// </summary>
internal sealed class GmemNotifyStrategy : ConversionStrategy
{
    public override string Name => StrategyNames.GmemNotify;

    public override bool BindsGuestMemfd => true;
}
