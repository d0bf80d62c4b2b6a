namespace Driver.Platform.Psp;

/// <summary>
/// A TDI (a device function that can do trusted DMA) as TIO_TDI_CREATE made
/// it: the firmware page holding its context, its requester ID, and the guest
/// TIO_TDI_BIND gave it (null while the host owns it).
/// </summary>
internal sealed class TdiContext(ulong page, ushort deviceId)
{
    public ulong Page { get; } = page;

    public ushort DeviceId { get; } = deviceId;

    public GuestContext? Guest { get; set; }
}
