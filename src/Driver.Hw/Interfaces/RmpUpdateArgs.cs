namespace Driver.Hw.Interfaces;

/// <summary>The RMPUPDATE operand (Linux struct rmp_state).</summary>
/// <param name="Gpa">Guest physical address the page will back (ignored when not assigned).</param>
/// <param name="Assigned">Owned by a guest or by firmware.</param>
/// <param name="PageSize2M">Set a 2 MiB entry; the SPA must be 2 MiB aligned.</param>
/// <param name="Immutable">Only firmware may change the entry afterwards.</param>
/// <param name="Asid">Owning guest's ASID (0 for hypervisor or firmware pages).</param>
public readonly record struct RmpUpdateArgs(ulong Gpa, bool Assigned, bool PageSize2M, bool Immutable, ushort Asid);
