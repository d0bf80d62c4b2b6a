namespace Driver.Kernel.Psp;

/// <summary>A guest context (GCTX_CREATE): the firmware page that holds one SNP guest's state.</summary>
public sealed class SnpGuestContext
{
    internal SnpGuestContext(ulong pa) => Pa = pa;

    /// <summary>The Context page.</summary>
    public ulong Pa { get; }

    /// <summary>The ASID SNP_ACTIVATE bound the guest to; 0 before.</summary>
    public ushort Asid { get; internal set; }

    /// <summary>False once decommissioned: the handle may not be used again.</summary>
    public bool Alive { get; internal set; } = true;
}
