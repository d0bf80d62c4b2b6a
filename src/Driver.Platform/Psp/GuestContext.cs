namespace Driver.Platform.Psp;

/// <summary>
/// A guest as the firmware knows it: its context page and, once SNP_ACTIVATE
/// bound it, its ASID (0 before: the guest cannot run and no TDI may join it).
/// </summary>
internal sealed class GuestContext(ulong page)
{
    public ulong Page { get; } = page;

    public ushort Asid { get; set; }

    /// <summary>TDIs bound to this guest: SNP_DECOMMISSION waits until they are unbound.</summary>
    public int BoundTdis { get; set; }
}
