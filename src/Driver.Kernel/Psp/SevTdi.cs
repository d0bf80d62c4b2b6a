namespace Driver.Kernel.Psp;

/// <summary>A TDI (TIO_TDI_CREATE): a device function whose context lives in a firmware page.</summary>
public sealed class SevTdi
{
    internal SevTdi(ulong pa, ushort deviceId)
    {
        Pa = pa;
        DeviceId = deviceId;
    }

    /// <summary>The TDI's context page.</summary>
    public ulong Pa { get; }

    /// <summary>The function's requester ID.</summary>
    public ushort DeviceId { get; }

    /// <summary>The guest the TDI is bound to (its trusted DMA carries that guest); null when unbound.</summary>
    public SnpGuestContext? Guest { get; internal set; }

    /// <summary>False once reclaimed.</summary>
    public bool Alive { get; internal set; } = true;
}
