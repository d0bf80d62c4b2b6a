using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Psp;

/// <summary>Options of the simulated PSP firmware.</summary>
public sealed record PspConfig
{
    /// <summary>Offer the IOPDE-smash call proposed in seed 000 (not a published AMD command).</summary>
    public bool ProposedIopdeSmash { get; init; } = true;

    /// <summary>How long that call holds DMA to the 2 MiB range ("a few ms" in the proposal).</summary>
    public long IopdeSmashStallNs { get; init; } = 2_000_000;

    /// <summary>The highest ASID SNP_ACTIVATE accepts (SNP guests use ASIDs 1..this; the RMP field holds up to 1023).</summary>
    public ushort MaxSnpAsid { get; init; } = 63;

    /// <summary>Where the mailbox and the firmware log (event ids 2200-2299).</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;
}
