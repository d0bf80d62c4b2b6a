namespace Driver.Platform.Psp;

/// <summary>Options of the simulated PSP firmware.</summary>
public sealed record PspConfig
{
    /// <summary>Offer the IOPDE-smash call proposed in seed 000 (not a published AMD command).</summary>
    public bool ProposedIopdeSmash { get; init; } = true;

    /// <summary>How long that call holds DMA to the 2 MiB range ("a few ms" in the proposal).</summary>
    public long IopdeSmashStallNs { get; init; } = 2_000_000;
}
