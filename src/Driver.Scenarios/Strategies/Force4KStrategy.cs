using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// Linux today (amd_iommu=nohugepages): once SNP is on the trusted device's domain maps 4 KiB I/O pages
/// only, and the RMP is kept at the same size (the guest validates at 2 MiB, the host PSMASHes at once),
/// so a conversion never changes a page size: it is one 4 KiB RMPUPDATE each way. It pays in IOTLB reach
/// and page-table pages instead.
/// </summary>
internal sealed class Force4KStrategy : ConversionStrategy
{
    public override string Name => StrategyNames.Force4K;

    public override bool HugeIoPages => false;

    public override void Populate(int block, Func<ulong, ulong, bool, bool> validate)
    {
        base.Populate(block, validate);
        if (Layout.RmpSplit[block])
            return;
        Testbed.Check(Bed.Sev.Rmp.Psmash(Layout.Spa((ulong)block * GuestLayout.PagesPer2M), out _), "PSMASH at boot");
        Layout.RmpSplit[block] = true;
    }
}
