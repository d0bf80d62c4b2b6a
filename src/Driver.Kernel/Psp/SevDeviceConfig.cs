namespace Driver.Kernel.Psp;

/// <summary>Where the PSP is and how long the driver waits for it.</summary>
public sealed record SevDeviceConfig
{
    /// <summary>Base of the PSP's MMIO window (the platform's default PSP address).</summary>
    public ulong MmioBase { get; init; } = 0xFC00_0000;

    /// <summary>The PSP's interrupt line; used only when an interrupt controller is passed in.</summary>
    public int Irq { get; init; } = 25;

    /// <summary>How long one command may take before the PSP is declared dead (Linux psp_cmd_timeout: 100 s).</summary>
    public long CommandTimeoutNs { get; init; } = 100_000_000_000;

    /// <summary>First delay between two reads of cmdresp; it doubles up to <see cref="MaxPollDelayNs"/>.</summary>
    public long PollDelayNs { get; init; } = 1_000;

    /// <summary>Longest delay between two reads of cmdresp.</summary>
    public long MaxPollDelayNs { get; init; } = 1_000_000;

    /// <summary>RMPUPDATE answers OVERLAP while another CPU changes the entry; Linux retries, this bounds it.</summary>
    public int RmpUpdateRetries { get; init; } = 1_000;

    /// <summary>PSMASH answers INUSE while the entry is locked; retried this many times.</summary>
    public int PsmashRetries { get; init; } = 1_000;

    /// <summary>Ask SNP_INIT_EX for SEV-TIO (tio_en), so that TIO_INIT and the TDI commands can follow.</summary>
    public bool Tio { get; init; }
}
