using Driver.Hw.Sev;

namespace Driver.Platform.Psp;

/// <summary>Firmware commands that exist only as proposals; ids chosen where the published ABI has none.</summary>
public static class ProposedCommands
{
    /// <summary>
    /// Seed 000's proposal: given a 2 MiB IOPDE and a table of 512 4 KiB PTEs,
    /// stall DMA to the range, swap the entry, PSMASH the RMP entry, resume.
    /// Buffer: <see cref="ProposedIopdeSmashBuffer"/>.
    /// </summary>
    public const SevCommandId IopdeSmash = (SevCommandId)0xE0;
}
