using Driver.Hw.Sev;
using Driver.Platform.Snp;

namespace Driver.Platform.Psp;

/// <summary>
/// The guest commands: SNP_ACTIVATE binds a guest context to an ASID,
/// SNP_DECOMMISSION ends the guest. Checks run in this order, the first
/// failing one answering: platform state, reserved bits, the address, the
/// page being a guest context, the guest's state, then the ASID.
/// </summary>
internal sealed partial class SnpFirmware
{
    private FirmwareOutcome Activate(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new SnpActivateBuffer(words);
        if (!request.IsValid)
            return Done(SevStatus.InvalidParam);
        var status = FindGuest(request.GctxPaddr, out var guest);
        if (status != SevStatus.Success)
            return Done(status);
        if (guest!.Asid != 0)
            return Done(SevStatus.InvalidGuestState);
        uint asid = request.Asid;
        if (asid == 0 || asid > _config.MaxSnpAsid)
            return Done(SevStatus.InvalidAsid);
        if (_guestContexts.Values.Any(g => g.Asid == asid))
            return Done(SevStatus.AsidOwned);
        // The caches may still hold lines of the ASID's last guest.
        if (_asidsToFlush.Contains((ushort)asid))
            return Done(SevStatus.DfflushRequired);
        guest.Asid = (ushort)asid;
        Log.GuestActivated(_logger, guest.Page, guest.Asid);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome Decommission(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var status = FindGuest(new SnpDecommissionBuffer(words[0]).GctxPaddr, out var guest);
        if (status != SevStatus.Success)
            return Done(status);
        if (guest!.BoundTdis != 0)
            return Done(SevStatus.InUse);
        // The context page stays the firmware's, as a Firmware page the host reclaims.
        _guestContexts.Remove(guest.Page);
        Write4K(guest.Page, RmpStates.Firmware());
        if (guest.Asid != 0)
        {
            _asidsToFlush.Add(guest.Asid);
            _dfFlushRequired = true;
        }
        Log.GuestDecommissioned(_logger, guest.Page, guest.Asid);
        return Done(SevStatus.Success);
    }

    /// <summary>INVALID_ADDRESS beyond the RMP, INVALID_GUEST unless <paramref name="page"/> holds a guest context.</summary>
    private SevStatus FindGuest(ulong page, out GuestContext? guest)
    {
        guest = null;
        if (!_rmp.Covers(page))
            return SevStatus.InvalidAddress;
        return _guestContexts.TryGetValue(page, out guest) ? SevStatus.Success : SevStatus.InvalidGuest;
    }
}
