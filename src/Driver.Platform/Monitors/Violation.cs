namespace Driver.Platform.Monitors;

/// <summary>One broken invariant: when, which device, which address, and what the kernel was doing.</summary>
/// <param name="Kind">Which invariant broke.</param>
/// <param name="TimeNs">Simulated time of the access.</param>
/// <param name="DeviceId">The requesting device.</param>
/// <param name="Address">The IOVA of the request.</param>
/// <param name="Detail">The physical address involved (the page reached, the freed table, the stale target).</param>
/// <param name="KernelOperation">What the kernel said it was doing (null: idle).</param>
public sealed record Violation(ViolationKind Kind, long TimeNs, ushort DeviceId, ulong Address, ulong Detail, string? KernelOperation)
{
    public override string ToString() =>
        $"{Kind} at {TimeNs} ns: device 0x{DeviceId:x4}, address 0x{Address:x}, physical 0x{Detail:x}, kernel: {KernelOperation ?? "idle"}";
}
