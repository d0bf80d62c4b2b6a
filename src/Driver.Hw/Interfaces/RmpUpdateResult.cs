namespace Driver.Hw.Interfaces;

/// <summary>RMPUPDATE return codes (Linux RMPUPDATE_FAIL_*).</summary>
public enum RmpUpdateResult
{
    Success = 0,

    /// <summary>A misaligned or out-of-range SPA, or a bad operand.</summary>
    Input = 1,

    /// <summary>The entry is immutable: only firmware may change it.</summary>
    Permission = 2,

    /// <summary>The entry is locked by a concurrent update; retry.</summary>
    InUse = 3,

    /// <summary>A 4 KiB update inside a 2 MiB entry, or a 2 MiB update over 4 KiB entries that differ.</summary>
    Overlap = 4,
}
