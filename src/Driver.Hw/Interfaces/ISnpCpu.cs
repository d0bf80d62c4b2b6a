using Driver.Hw.Sev;

namespace Driver.Hw.Interfaces;

/// <summary>The SEV-SNP instructions the hypervisor runs on the CPU (not firmware commands).</summary>
public interface ISnpCpu
{
    /// <summary>RMPUPDATE: sets the RMP entry of the 4 KiB (or 2 MiB) page at <paramref name="spa"/>.</summary>
    RmpUpdateResult Rmpupdate(ulong spa, RmpUpdateArgs args);

    /// <summary>PSMASH: splits the 2 MiB RMP entry at <paramref name="spa"/> into 512 4 KiB entries.</summary>
    PsmashResult Psmash(ulong spa);

    /// <summary>
    /// RMPREAD (what Linux's snp_lookup_rmpentry returns): the entry that governs the page at
    /// <paramref name="spa"/> (the 2 MiB entry when the page lies in one, <paramref name="is2M"/>);
    /// false for an address the RMP does not cover.
    /// </summary>
    bool Rmpread(ulong spa, out RmpEntry entry, out bool is2M);
}
