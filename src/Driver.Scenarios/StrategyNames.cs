namespace Driver.Scenarios;

/// <summary>The conversion strategies `driver run` compares, by the name the command line uses, in table order.</summary>
public static class StrategyNames
{
    /// <summary>4 KiB IOPTEs whenever SNP is on (Linux today).</summary>
    public const string Force4K = "force-4k";

    /// <summary>Cut the 2 MiB IOPTE to 4 KiB, flush, then PSMASH and make the page shared.</summary>
    public const string Sequenced = "sequenced";

    /// <summary>One firmware call stalls DMA, swaps the IOPDE and smashes the RMP.</summary>
    public const string FwSmash = "fw-smash";

    /// <summary>guest_memfd's notifier zaps the IOMMU range in should_proceed; mapped again after execute_work.</summary>
    public const string GmemNotify = "gmem-notify";

    /// <summary>One owner (firmware) keeps the IOMMU table identical to KVM's stage 2 at every step.</summary>
    public const string MirroredS2 = "mirrored-s2";

    public static IReadOnlyList<string> All { get; } = [Force4K, Sequenced, FwSmash, GmemNotify, MirroredS2];
}
