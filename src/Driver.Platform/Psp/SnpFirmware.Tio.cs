using Driver.Hw.Sev;

namespace Driver.Platform.Psp;

/// <summary>
/// The SEV-TIO subset: TIO_INIT, TDI_CREATE, TDI_BIND, TDI_UNBIND and
/// TDI_RECLAIM. A bound TDI's trusted requests (PCIe T=1) carry its guest's
/// ASID into the IOMMU's RMP check. Checks run in this order: platform state
/// (SNP, then TIO), reserved bits (INVALID_PARAM), the length (INVALID_LEN),
/// addresses (INVALID_ADDRESS), then the objects named: an unknown TDI is
/// INVALID_PARAM, an unknown guest INVALID_GUEST, a guest without ASID
/// INVALID_GUEST_STATE, a TDI already bound (or still bound) IN_USE.
/// </summary>
internal sealed partial class SnpFirmware
{
    private FirmwareOutcome TioInit(ulong[] words)
    {
        if (!_initialized)
            return Done(SevStatus.InvalidPlatformState);
        var request = new TioInitBuffer(words[0]);
        if (!request.IsValid)
            return Done(SevStatus.InvalidParam);
        if (request.Length != OneWord * sizeof(ulong))
            return Done(SevStatus.InvalidLen);
        // SNP_INIT_EX must have asked for TIO, on an IOMMU that supports it.
        if (!_tioEnabled || !_iommu.Config.Efr2.SevSnpIoSup)
            return Done(SevStatus.Unsupported);
        if (_tioInitialized)
            return Done(SevStatus.InvalidPlatformState);
        _tioInitialized = true;
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome TdiCreate(ulong[] words)
    {
        var request = new TioTdiCreateBuffer(words);
        var status = TioPreamble(request.IsValid, request.Length, TioTdiCreateBuffer.Words);
        if (status != SevStatus.Success)
            return Done(status);
        ulong page = request.TdiCtxPaddr;
        status = CheckFreeContextPage(page);
        if (status != SevStatus.Success)
            return Done(status);
        ushort deviceId = request.DeviceId;
        if (_tdis.Values.Any(t => t.DeviceId == deviceId))
            return Done(SevStatus.AlreadyOwned);
        _memory.Fill(page, (int)Page4K, 0);
        _tdis[page] = new TdiContext(page, deviceId);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome TdiBind(ulong[] words)
    {
        var request = new TioTdiBindBuffer(words);
        var status = FindTdi(request.IsValid, request.Length, TioTdiBindBuffer.Words, request.TdiCtxPaddr, out var tdi);
        if (status != SevStatus.Success)
            return Done(status);
        status = FindGuest(request.GctxPaddr, out var guest);
        if (status != SevStatus.Success)
            return Done(status);
        if (guest!.Asid == 0)
            return Done(SevStatus.InvalidGuestState);
        if (tdi!.Guest is not null)
            return Done(SevStatus.InUse);
        tdi.Guest = guest;
        guest.BoundTdis++;
        _iommu.BindTdi(tdi.DeviceId, guest.Asid);
        Log.TdiBound(_logger, tdi.DeviceId, guest.Asid);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome TdiUnbind(ulong[] words)
    {
        var request = new TioTdiUnbindBuffer(words);
        var status = FindTdi(request.IsValid, request.Length, TioTdiUnbindBuffer.Words, request.TdiCtxPaddr, out var tdi);
        if (status != SevStatus.Success)
            return Done(status);
        if (tdi!.Guest is not { } guest)
            return Done(SevStatus.InvalidGuestState);
        tdi.Guest = null;
        guest.BoundTdis--;
        _iommu.UnbindTdi(tdi.DeviceId);
        Log.TdiUnbound(_logger, tdi.DeviceId, guest.Asid);
        return Done(SevStatus.Success);
    }

    private FirmwareOutcome TdiReclaim(ulong[] words)
    {
        var request = new TioTdiReclaimBuffer(words);
        var status = FindTdi(request.IsValid, request.Length, TioTdiReclaimBuffer.Words, request.TdiCtxPaddr, out var tdi);
        if (status != SevStatus.Success)
            return Done(status);
        if (tdi!.Guest is not null)
            return Done(SevStatus.InUse);
        // The page stays a Firmware page: the host takes it back with SNP_PAGE_RECLAIM.
        _tdis.Remove(tdi.Page);
        return Done(SevStatus.Success);
    }

    // The checks every TIO command starts with.
    private SevStatus TioPreamble(bool valid, uint length, int words) =>
        !_initialized || !_tioInitialized ? SevStatus.InvalidPlatformState
        : !valid ? SevStatus.InvalidParam
        : length != words * sizeof(ulong) ? SevStatus.InvalidLen
        : SevStatus.Success;

    private SevStatus FindTdi(bool valid, uint length, int words, ulong page, out TdiContext? tdi)
    {
        tdi = null;
        var status = TioPreamble(valid, length, words);
        if (status != SevStatus.Success)
            return status;
        if (!_rmp.Covers(page))
            return SevStatus.InvalidAddress;
        return _tdis.TryGetValue(page, out tdi) ? SevStatus.Success : SevStatus.InvalidParam;
    }
}
