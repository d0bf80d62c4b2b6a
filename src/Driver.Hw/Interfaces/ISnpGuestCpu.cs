namespace Driver.Hw.Interfaces;

/// <summary>
/// The SEV-SNP instruction a guest runs on its own CPU: one vCPU of the guest
/// of <see cref="Asid"/>. The guest names its page by guest address; nested
/// paging resolves it to a system address, which the caller supplies.
/// </summary>
public interface ISnpGuestCpu
{
    /// <summary>The ASID the guest runs with.</summary>
    ushort Asid { get; }

    /// <summary>
    /// PVALIDATE: sets (<paramref name="validate"/>) or clears the Validated bit of the guest page at
    /// <paramref name="gpa"/> (4 KiB, or 2 MiB when <paramref name="pageSize2M"/>) backed by <paramref name="spa"/>.
    /// </summary>
    PvalidateResult Pvalidate(ulong gpa, ulong spa, bool pageSize2M, bool validate);
}
