namespace Driver.Hw.Interfaces;

/// <summary>Outcome of one MMIO access.</summary>
public enum MmioStatus
{
    /// <summary>A device took the access.</summary>
    Ok,

    /// <summary>No device claims the address: a bus error (reads return all ones).</summary>
    NoDevice,

    /// <summary>The access is not naturally aligned to its size: a bus error.</summary>
    Misaligned,
}
