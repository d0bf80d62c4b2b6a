namespace Driver.Hw.Interfaces;

/// <summary>PSMASH return codes.</summary>
public enum PsmashResult
{
    Success = 0,

    /// <summary>The SPA is not 2 MiB aligned or the entry is not a 2 MiB entry.</summary>
    Input = 1,

    /// <summary>The entry is immutable.</summary>
    Permission = 2,

    /// <summary>The entry is locked by a concurrent update; retry.</summary>
    InUse = 3,

    /// <summary>The SPA lies outside the memory the RMP covers.</summary>
    BadAddress = 4,
}
