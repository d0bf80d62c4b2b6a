using Driver.Hw.Sev;

namespace Driver.Platform.Snp;

/// <summary>Reads and builds page states (Firmware-IOMMU pages look like Firmware pages; only firmware knows which).</summary>
public static class RmpStates
{
    public static RmpState Classify(RmpEntry e)
    {
        if (!e.Assigned)
            return e.Validated || e.Immutable || e.Asid != 0 || e.Vmsa ? RmpState.Invalid : RmpState.Hypervisor;
        if (e.Asid == 0)
        {
            if (e.Validated)
                return RmpState.Invalid;
            if (e.Vmsa)
                return e.Immutable ? RmpState.Context : RmpState.Invalid;
            return e.Immutable ? RmpState.Firmware : RmpState.Reclaim;
        }
        if (e.Validated)
            return e.Immutable ? RmpState.Invalid : RmpState.GuestValid;
        return e.Immutable ? RmpState.PreGuest : RmpState.GuestInvalid;
    }

    /// <summary>Owned by a guest: the pages no device may reach through the non-secure path.</summary>
    public static bool IsGuestPrivate(RmpEntry e) => e.Assigned && e.Asid != 0;

    /// <summary>A 4 KiB firmware page (rmp_make_private(pfn, 0, 4K, 0, true)).</summary>
    public static RmpEntry Firmware() => default(RmpEntry).WithAssigned(true).WithImmutable(true);

    public static RmpEntry Reclaim() => default(RmpEntry).WithAssigned(true);

    public static RmpEntry Context() => Firmware().WithVmsa(true);
}
