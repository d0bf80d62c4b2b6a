using Driver.Kernel;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// Jason Gunthorpe's order (seed 000): cut the 2 MiB IOPTE to smaller pages without a gap in
/// translation (iommupt Cut, which flushes the old entry and waits), then PSMASH the RMP entry and make
/// the page shared. Under today's AMD rule a DMA that walks the new 4 KiB IOPTEs before the PSMASH
/// fails the RMP check on size; a hardware rule that derives the smaller size never fails.
/// </summary>
internal sealed class SequencedStrategy : ConversionStrategy
{
    public override string Name => StrategyNames.Sequenced;

    public override Errno BeforeShare(ulong gpa) =>
        Layout.IoSplit[Engine.GuestLayout.BlockOfPage(Layout.PageOf(gpa))] ? Errno.Ok : CutAround(gpa);
}
