namespace Driver.Scenarios;

/// <summary>
/// One workload of `driver run`: the guest, its device's DMA and its conversions. Everything that
/// changes a result is here, so that a result file records it and a merge can refuse mixed shards.
/// Sizes are bytes, times simulated nanoseconds.
/// </summary>
public sealed record ScenarioOptions
{
    /// <summary>Guest memory, a multiple of <see cref="FolioSize"/>.</summary>
    public ulong GuestSize { get; init; } = 64UL << 20;

    /// <summary>The guest_memfd folio size: 4 KiB or 2 MiB.</summary>
    public ulong FolioSize { get; init; } = 2UL << 20;

    /// <summary>Trusted DMA transactions the device issues per simulated microsecond; above 0.</summary>
    public double DmaRate { get; init; } = 4.0;

    /// <summary>Bytes per DMA transaction, at most 4 KiB and never crossing a 4 KiB page.</summary>
    public uint DmaBytes { get; init; } = 256;

    public DmaPattern Pattern { get; init; } = DmaPattern.Hotspot;

    /// <summary>4 KiB conversions (shared and back) the guest asks for per simulated millisecond; above 0.</summary>
    public double ConversionRate { get; init; } = 20.0;

    /// <summary>Simulated run time of one cell and seed.</summary>
    public ulong DurationNs { get; init; } = 10_000_000;

    /// <summary>Also run an untrusted device on the guest's shared pages.</summary>
    public bool UntrustedDevice { get; init; }
}
