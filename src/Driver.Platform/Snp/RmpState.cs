namespace Driver.Platform.Snp;

/// <summary>The page states of the SNP ABI, as the RMP entry fields encode them.</summary>
public enum RmpState
{
    Hypervisor,
    Firmware,
    Reclaim,
    Context,
    PreGuest,
    GuestInvalid,
    GuestValid,

    /// <summary>A combination no state of the ABI has (e.g. validated but unassigned).</summary>
    Invalid,
}
