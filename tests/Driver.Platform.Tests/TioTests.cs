using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Snp;
using static Driver.Platform.Tests.SnpGuests;

namespace Driver.Platform.Tests;

/// <summary>The SEV-TIO subset: TIO_INIT and the TDI life cycle, with each command's state rules.</summary>
public class TioTests
{
    private const ushort Dev = 0x31;

    private static SevStatus Reclaim(Machine m, ulong page) =>
        Send(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(page).Raw);

    [Fact]
    public void A_tdi_is_created_bound_unbound_and_reclaimed()
    {
        var m = TioMachine().Machine;
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.InvalidPageState, "the context must be a firmware page");
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        Reclaim(m, TdiCtx).ShouldBe(SevStatus.InvalidPageState, "firmware holds the TDI's context there");
        GctxCreate(m, TdiCtx).ShouldBe(SevStatus.InvalidPageState);

        NewGuest(m, Gctx, 5);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        m.Iommu.TdiAsid(Dev).ShouldBe((ushort)5);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.InUse, "already bound");
        Decommission(m, Gctx).ShouldBe(SevStatus.InUse, "a TDI is still bound to the guest");
        TdiReclaim(m, TdiCtx).ShouldBe(SevStatus.InUse, "a bound TDI is not reclaimed");

        TdiUnbind(m, TdiCtx).ShouldBe(SevStatus.Success);
        m.Iommu.TdiAsid(Dev).ShouldBe((ushort)0);
        TdiUnbind(m, TdiCtx).ShouldBe(SevStatus.InvalidGuestState, "not bound");
        TdiReclaim(m, TdiCtx).ShouldBe(SevStatus.Success);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.InvalidParam, "no TDI there any more");
        TdiUnbind(m, TdiCtx).ShouldBe(SevStatus.InvalidParam);
        TdiReclaim(m, TdiCtx).ShouldBe(SevStatus.InvalidParam);
        Reclaim(m, TdiCtx).ShouldBe(SevStatus.Success);
        RmpStates.Classify(m.Rmp.Read(TdiCtx >> 12)).ShouldBe(RmpState.Reclaim);
        Decommission(m, Gctx).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Tdi_create_clears_the_context_page_it_takes()
    {
        var m = TioMachine().Machine;
        MakeFirmware(m, TdiCtx);
        m.Memory.Fill(TdiCtx, 0x1000, 0xA5);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        var page = new byte[0x1000];
        m.Memory.Read(TdiCtx, page);
        page.ShouldAllBe(b => b == 0);
    }

    [Fact]
    public void Snp_shutdown_forgets_every_tdi_so_a_new_platform_starts_without_them()
    {
        var m = TioMachine().Machine;
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
        // The host makes the IOMMU's pages shared again before a new SNP_INIT_EX.
        m.Cpu.Rmpupdate(DeviceRig.EventLog, default).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.InitEx(m, default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(true)).ShouldBe(SevStatus.Success);
        TioInit(m).ShouldBe(SevStatus.Success);
        TdiReclaim(m, TdiCtx).ShouldBe(SevStatus.InvalidParam, "the old TDI is gone");
        ulong other = TdiCtx + 0x1000;
        MakeFirmware(m, other);
        TdiCreate(m, Dev, other).ShouldBe(SevStatus.Success, "the device is no TDI any more");
    }

    [Fact]
    public void Tio_init_needs_snp_up_with_tio_enabled_on_an_iommu_that_supports_it()
    {
        var before = PspMailbox.SnpMachine(init: false).Machine;
        TioInit(before).ShouldBe(SevStatus.InvalidPlatformState);

        var withoutTioEn = PspMailbox.SnpMachine().Machine;
        TioInit(withoutTioEn).ShouldBe(SevStatus.Unsupported, "SNP_INIT_EX did not ask for TIO");

        var noSupport = new DeviceRig().Init().Machine;
        PspMailbox.InitEx(noSupport, default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(true)).ShouldBe(SevStatus.Success);
        TioInit(noSupport).ShouldBe(SevStatus.Unsupported, "the IOMMU has no EFR2 SEV-SNP I/O support");

        var m = TioMachine(tioInit: false).Machine;
        TioInit(m, length: 16).ShouldBe(SevStatus.InvalidLen);
        Send(m, SevCommandId.TioInit, default(TioInitBuffer).WithLength(8).Raw | (1UL << 40)).ShouldBe(SevStatus.InvalidParam);
        TioInit(m).ShouldBe(SevStatus.Success);
        TioInit(m).ShouldBe(SevStatus.InvalidPlatformState, "TIO is initialised once");
    }

    [Fact]
    public void Tdi_commands_refuse_before_tio_init()
    {
        var m = TioMachine(tioInit: false).Machine;
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.InvalidPlatformState);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.InvalidPlatformState);
        TdiUnbind(m, TdiCtx).ShouldBe(SevStatus.InvalidPlatformState);
        TdiReclaim(m, TdiCtx).ShouldBe(SevStatus.InvalidPlatformState);
        TioInit(m).ShouldBe(SevStatus.Success);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success, "the refusals created nothing");
    }

    [Fact]
    public void Tdi_create_checks_length_reserved_bits_address_page_and_device()
    {
        var m = TioMachine().Machine;
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx, length: 8).ShouldBe(SevStatus.InvalidLen);
        var b = default(TioTdiCreateBuffer).WithLength(16).WithDeviceId(Dev).WithTdiCtxPaddr(TdiCtx);
        Send(m, SevCommandId.TioTdiCreate, b.GetWord(0) | (1UL << 50), b.GetWord(1)).ShouldBe(SevStatus.InvalidParam);
        TdiCreate(m, Dev, m.Rmp.CoveredBytes).ShouldBe(SevStatus.InvalidAddress);
        TdiCreate(m, Dev, DeviceRig.EventLog).ShouldBe(SevStatus.InvalidPageState, "an IOMMU page of the firmware");
        m.Cpu.Rmpupdate(0x5200_0000, new RmpUpdateArgs(0, true, true, true, 0)).ShouldBe(RmpUpdateResult.Success);
        TdiCreate(m, Dev, 0x5200_0000).ShouldBe(SevStatus.InvalidPageSize);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.InvalidPageState, "the page holds a TDI already");
        MakeFirmware(m, TdiCtx + 0x1000);
        TdiCreate(m, Dev, TdiCtx + 0x1000).ShouldBe(SevStatus.AlreadyOwned, "the device is a TDI already");
        TdiCreate(m, Dev + 1, TdiCtx + 0x1000).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Tdi_bind_needs_a_known_tdi_and_an_active_guest()
    {
        var m = TioMachine().Machine;
        MakeFirmware(m, TdiCtx);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.InvalidParam, "no TDI yet");
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.InvalidGuest);
        TdiBind(m, TdiCtx, m.Rmp.CoveredBytes).ShouldBe(SevStatus.InvalidAddress);
        TdiBind(m, m.Rmp.CoveredBytes, Gctx).ShouldBe(SevStatus.InvalidAddress);
        TdiBind(m, TdiCtx, Gctx, length: 16).ShouldBe(SevStatus.InvalidLen);
        MakeFirmware(m, Gctx);
        GctxCreate(m, Gctx).ShouldBe(SevStatus.Success);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.InvalidGuestState, "the guest has no ASID yet");
        m.Iommu.TdiAsid(Dev).ShouldBe((ushort)0);
        Activate(m, Gctx, 4).ShouldBe(SevStatus.Success);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        m.Iommu.TdiAsid(Dev).ShouldBe((ushort)4);
    }

    [Fact]
    public void Unbind_and_reclaim_check_length_and_reserved_bits()
    {
        var m = TioMachine().Machine;
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        NewGuest(m, Gctx, 5);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        TdiUnbind(m, TdiCtx, length: 24).ShouldBe(SevStatus.InvalidLen);
        var u = default(TioTdiUnbindBuffer).WithLength(16).WithTdiCtxPaddr(TdiCtx);
        Send(m, SevCommandId.TioTdiUnbind, u.GetWord(0) | (1UL << 63), u.GetWord(1)).ShouldBe(SevStatus.InvalidParam);
        m.Iommu.TdiAsid(Dev).ShouldBe((ushort)5, "the refusals unbound nothing");
        TdiUnbind(m, TdiCtx).ShouldBe(SevStatus.Success);
        TdiReclaim(m, TdiCtx, length: 0).ShouldBe(SevStatus.InvalidLen);
        var r = default(TioTdiReclaimBuffer).WithLength(16).WithTdiCtxPaddr(TdiCtx);
        Send(m, SevCommandId.TioTdiReclaim, r.GetWord(0) | (1UL << 33), r.GetWord(1)).ShouldBe(SevStatus.InvalidParam);
        TdiReclaim(m, TdiCtx).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Shutdown_unbinds_every_tdi_and_forgets_tio()
    {
        var m = TioMachine().Machine;
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        NewGuest(m, Gctx, 5);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
        m.Iommu.TdiAsid(Dev).ShouldBe((ushort)0);
        m.Cpu.Rmpupdate(DeviceRig.EventLog, default).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.InitEx(m, default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(true)).ShouldBe(SevStatus.Success);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.InvalidPlatformState, "TIO_INIT again first");
    }

    [Fact]
    public void Bind_and_unbind_log_the_device_and_the_asid()
    {
        var logs = new CapturedLogs();
        var m = TioMachine(psp: new Psp.PspConfig { LoggerFactory = logs }).Machine;
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        NewGuest(m, Gctx, 5);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        TdiUnbind(m, TdiCtx).ShouldBe(SevStatus.Success);
        var bound = logs.WithId(2208).ShouldHaveSingleItem();
        bound.GetStructuredStateValue("DeviceId").ShouldBe(Dev.ToString());
        bound.GetStructuredStateValue("Asid").ShouldBe("5");
        logs.WithId(2209).ShouldHaveSingleItem().GetStructuredStateValue("Asid").ShouldBe("5");
    }
}
