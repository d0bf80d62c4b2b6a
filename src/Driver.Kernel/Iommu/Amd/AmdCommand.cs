using System.Numerics;
using Driver.Hw.AmdIommu;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// One 128-bit entry of the command ring, built by the driver's command builders
/// (Linux build_inv_dte, build_inv_iommu_pages, build_completion_wait, ...). A
/// value type with equality so a test can compare the exact sequence a driver posts.
/// </summary>
public readonly record struct AmdCommand(ulong Low, ulong High)
{
    /// <summary>The address with S=1 that names every IOVA (the whole domain).</summary>
    public const ulong AllPagesAddress = 0x7FFF_FFFF_FFFF_F000UL;

    public CommandOpcode Opcode => new CommandHeader([Low, High]).Opcode;

    public static AmdCommand CompletionWait(ulong semaphorePa, ulong data) =>
        From(default(CompletionWaitCommand).WithOpcode(CommandOpcode.CompletionWait).WithStore(true)
            .WithStoreAddress(semaphorePa).WithStoreData(data));

    public static AmdCommand InvalidateDevtabEntry(ushort deviceId) =>
        From(default(InvalidateDevtabEntryCommand).WithOpcode(CommandOpcode.InvalidateDevtabEntry).WithDeviceId(deviceId));

    public static AmdCommand InvalidateIommuAll() =>
        From(default(InvalidateIommuAllCommand).WithOpcode(CommandOpcode.InvalidateIommuAll));

    /// <summary>
    /// INVALIDATE_IOMMU_PAGES for IOVA <paramref name="iova"/>..<paramref name="last"/> of a
    /// domain: one page with S=0, otherwise the smallest naturally aligned power of two that
    /// covers the range, written with S=1 as the address with every bit below its size set
    /// (Linux build_inv_address). <paramref name="pde"/> also drops cached table entries.
    /// </summary>
    public static AmdCommand InvalidateIommuPages(ushort domainId, ulong iova, ulong last, bool pde)
    {
        if (last < iova)
            throw new ArgumentOutOfRangeException(nameof(last), "BUG: an empty invalidation range");
        ulong address = iova & ~0xFFFUL;
        bool sized = (iova >> 12) != (last >> 12);
        if (sized)
        {
            int msb = 63 - BitOperations.LeadingZeroCount(iova ^ last);
            // Bits 63:52 are a sign extension: a block of 2^52 (msb 51) is still encodable, anything larger is everything.
            address = msb > 51 ? AllPagesAddress : (iova | ((1UL << msb) - 1)) & ~0xFFFUL;
        }
        return From(default(InvalidateIommuPagesCommand).WithOpcode(CommandOpcode.InvalidateIommuPages)
            .WithDomainId(domainId).WithAddress(address).WithSize(sized).WithPde(pde));
    }

    /// <summary>INVALIDATE_IOMMU_PAGES of every IOVA of the domain, with the PDE bit.</summary>
    public static AmdCommand InvalidateDomain(ushort domainId) =>
        From(default(InvalidateIommuPagesCommand).WithOpcode(CommandOpcode.InvalidateIommuPages)
            .WithDomainId(domainId).WithAddress(AllPagesAddress).WithSize(true).WithPde(true));

    /// <summary>The canonical decoding of the command, through its generated layout.</summary>
    public override string ToString()
    {
        ReadOnlySpan<ulong> words = [Low, High];
        return Opcode switch
        {
            CommandOpcode.CompletionWait => new CompletionWaitCommand(words).ToString(),
            CommandOpcode.InvalidateDevtabEntry => new InvalidateDevtabEntryCommand(words).ToString(),
            CommandOpcode.InvalidateIommuPages => new InvalidateIommuPagesCommand(words).ToString(),
            CommandOpcode.InvalidateIotlbPages => new InvalidateIotlbPagesCommand(words).ToString(),
            CommandOpcode.InvalidateInterruptTable => new InvalidateInterruptTableCommand(words).ToString(),
            CommandOpcode.InvalidateIommuAll => new InvalidateIommuAllCommand(words).ToString(),
            _ => new CommandHeader(words).ToString(),
        };
    }

    private static AmdCommand From(CompletionWaitCommand c) => new(c.GetWord(0), c.GetWord(1));

    private static AmdCommand From(InvalidateDevtabEntryCommand c) => new(c.GetWord(0), c.GetWord(1));

    private static AmdCommand From(InvalidateIommuPagesCommand c) => new(c.GetWord(0), c.GetWord(1));

    private static AmdCommand From(InvalidateIommuAllCommand c) => new(c.GetWord(0), c.GetWord(1));
}
