using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Psp;
using Driver.Platform.Snp;
using static Driver.Platform.Tests.SnpGuests;

namespace Driver.Platform.Tests;

/// <summary>SNP_ACTIVATE and SNP_DECOMMISSION: a guest context bound to an ASID, and undone.</summary>
public class SnpGuestTests
{
    private static Machine Up() => PspMailbox.SnpMachine().Machine;

    [Fact]
    public void Activate_binds_the_asid_and_decommission_frees_it_for_reuse_after_df_flush()
    {
        var m = Up();
        NewGuest(m, Gctx, 5);
        PlatformStatus(m).GuestCount.ShouldBe(1u);
        Activate(m, Gctx, 6).ShouldBe(SevStatus.InvalidGuestState, "a guest is activated once");

        MakeFirmware(m, OtherGctx);
        GctxCreate(m, OtherGctx).ShouldBe(SevStatus.Success);
        Activate(m, OtherGctx, 5).ShouldBe(SevStatus.AsidOwned);
        PlatformStatus(m).GuestCount.ShouldBe(2u);

        Decommission(m, Gctx).ShouldBe(SevStatus.Success);
        RmpStates.Classify(m.Rmp.Read(Gctx >> 12)).ShouldBe(RmpState.Firmware, "the context page stays the firmware's");
        PlatformStatus(m).GuestCount.ShouldBe(1u);
        Activate(m, OtherGctx, 5).ShouldBe(SevStatus.DfflushRequired, "the ASID's last guest may still be cached");
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.DfflushRequired);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush).ShouldBe(SevStatus.Success);
        Activate(m, OtherGctx, 5).ShouldBe(SevStatus.Success);

        // The decommissioned context is an ordinary firmware page: reclaimed, then the host's again.
        Send(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Gctx).Raw).ShouldBe(SevStatus.Success);
        RmpStates.Classify(m.Rmp.Read(Gctx >> 12)).ShouldBe(RmpState.Reclaim);
        Decommission(m, Gctx).ShouldBe(SevStatus.InvalidGuest);
    }

    [Fact]
    public void Decommission_of_a_guest_never_activated_needs_no_df_flush()
    {
        var m = Up();
        MakeFirmware(m, Gctx);
        GctxCreate(m, Gctx).ShouldBe(SevStatus.Success);
        Decommission(m, Gctx).ShouldBe(SevStatus.Success);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(64u)]
    [InlineData(0xFFFF_FFFFu)]
    public void Activate_refuses_an_asid_outside_the_snp_range(uint asid)
    {
        var m = Up();
        MakeFirmware(m, Gctx);
        GctxCreate(m, Gctx).ShouldBe(SevStatus.Success);
        Activate(m, Gctx, asid).ShouldBe(SevStatus.InvalidAsid);
        Activate(m, Gctx, 63).ShouldBe(SevStatus.Success, "the refusal bound nothing; the highest ASID is in range");
    }

    [Fact]
    public void The_asid_limit_is_the_configured_one()
    {
        var m = PspMailbox.SnpMachine(config: new MachineConfig { Psp = new PspConfig { MaxSnpAsid = 3 } }).Machine;
        MakeFirmware(m, Gctx);
        GctxCreate(m, Gctx).ShouldBe(SevStatus.Success);
        Activate(m, Gctx, 4).ShouldBe(SevStatus.InvalidAsid);
        Activate(m, Gctx, 3).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Activate_and_decommission_refuse_before_snp_init()
    {
        var m = PspMailbox.SnpMachine(init: false).Machine;
        Activate(m, Gctx, 1).ShouldBe(SevStatus.InvalidPlatformState);
        Decommission(m, Gctx).ShouldBe(SevStatus.InvalidPlatformState);
    }

    [Fact]
    public void A_page_that_is_no_guest_context_is_invalid_guest_and_one_beyond_the_rmp_invalid_address()
    {
        var m = Up();
        MakeFirmware(m, Gctx);
        foreach (ulong page in new[] { Gctx, TestDriver.EventLog, 0UL, Gctx + 0x1000 })
        {
            Activate(m, page, 1).ShouldBe(SevStatus.InvalidGuest, $"0x{page:x}");
            Decommission(m, page).ShouldBe(SevStatus.InvalidGuest, $"0x{page:x}");
        }
        foreach (ulong page in new[] { m.Rmp.CoveredBytes, 0xFFFF_FFFF_FFFF_F000UL })
        {
            Activate(m, page, 1).ShouldBe(SevStatus.InvalidAddress);
            Decommission(m, page).ShouldBe(SevStatus.InvalidAddress);
        }
        RmpStates.Classify(m.Rmp.Read(Gctx >> 12)).ShouldBe(RmpState.Firmware);
        PlatformStatus(m).GuestCount.ShouldBe(0u);
    }

    [Fact]
    public void Activate_with_reserved_bits_is_invalid_param_and_binds_nothing()
    {
        var m = Up();
        MakeFirmware(m, Gctx);
        GctxCreate(m, Gctx).ShouldBe(SevStatus.Success);
        var b = default(SnpActivateBuffer).WithGctxPaddr(Gctx).WithAsid(2);
        Send(m, SevCommandId.SnpActivate, b.GetWord(0), b.GetWord(1) | (1UL << 40)).ShouldBe(SevStatus.InvalidParam);
        Activate(m, Gctx, 2).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void An_active_guest_context_cannot_be_reclaimed_before_decommission()
    {
        var m = Up();
        NewGuest(m, Gctx, 7);
        Send(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Gctx).Raw).ShouldBe(SevStatus.InvalidGuestState);
        RmpStates.Classify(m.Rmp.Read(Gctx >> 12)).ShouldBe(RmpState.Context);
        PlatformStatus(m).GuestCount.ShouldBe(1u);
    }

    [Fact]
    public void Shutdown_ends_every_guest()
    {
        var m = Up();
        NewGuest(m, Gctx, 7);
        Decommission(m, Gctx).ShouldBe(SevStatus.Success);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush).ShouldBe(SevStatus.Success);
        MakeFirmware(m, OtherGctx);
        GctxCreate(m, OtherGctx).ShouldBe(SevStatus.Success);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
        m.Cpu.Rmpupdate(TestDriver.EventLog, default).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.InitEx(m).ShouldBe(SevStatus.Success);
        PlatformStatus(m).GuestCount.ShouldBe(0u);
        Activate(m, OtherGctx, 1).ShouldBe(SevStatus.InvalidGuest);
    }

    [Fact]
    public void Activate_and_decommission_log_the_guest_and_its_asid()
    {
        var logs = new CapturedLogs();
        var m = PspMailbox.SnpMachine(config: new MachineConfig { Psp = new PspConfig { LoggerFactory = logs } }).Machine;
        NewGuest(m, Gctx, 9);
        Decommission(m, Gctx).ShouldBe(SevStatus.Success);
        var activated = logs.WithId(2206).ShouldHaveSingleItem();
        activated.GetStructuredStateValue("Asid").ShouldBe("9");
        logs.WithId(2207).ShouldHaveSingleItem().GetStructuredStateValue("Asid").ShouldBe("9");
    }
}
