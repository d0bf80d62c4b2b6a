using Driver.Hw.AmdIommu;
using Driver.Hw.Sev;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Psp;
using Driver.Platform;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>The PSP driver end to end on the simulated machine: SNP bring-up, shutdown, guest contexts, bad requests, a PSP that does not answer.</summary>
public sealed class SevDeviceMachineTests
{
    [Fact]
    public void Probe_FindsTheSevInterface_AndRefusesASecondProbe()
    {
        var rig = new PspRig();
        rig.Sev.Probed.ShouldBeTrue();
        rig.Logs.Single(5000, LogLevel.Information).Message.ShouldContain("Sev = true");
        rig.Sev.Probe().ShouldBe(Errno.EBUSY);
    }

    [Fact]
    public void Probe_WhereNoPspAnswers_IsEnodev_AndCommandsAreRefused()
    {
        var rig = new PspRig();
        long frames = rig.Allocator.FramesInUse;
        var sev = rig.NewDevice(new SevDeviceConfig { MmioBase = 0xE000_0000 });
        sev.Probe().ShouldBe(Errno.ENODEV);
        rig.Logs.Single(5001, LogLevel.Error);
        rig.Allocator.FramesInUse.ShouldBe(frames);
        sev.SnpInit(out _).ShouldBe(Errno.ENODEV);
        sev.DoCmd(SevCommandId.SnpDfFlush, [], out _).ShouldBe(Errno.ENODEV);
        sev.SnpPlatformStatus(out _, out _).ShouldBe(Errno.ENODEV);
    }

    [Fact]
    public void SnpInit_TurnsSnpOn_GivesTheIommuPagesToFirmware_AndReportsThePlatform()
    {
        var rig = new PspRig();
        rig.PlatformStatus().State.ShouldBe((byte)0);
        rig.Up();
        rig.Sev.SnpInitialized.ShouldBeTrue();
        rig.Amd.SnpEnabled.ShouldBeTrue();
        rig.Machine.Iommu.SnpEnforced.ShouldBeTrue();
        var pages = new AmdIommuSnp(rig.Amd).SnpPages();
        pages.Count.ShouldBe(2);
        pages.ShouldContain(rig.Amd.EventLogPa);
        foreach (ulong page in pages)
            rig.State(page).ShouldBe(RmpState.Firmware);
        var platform = rig.PlatformStatus();
        platform.State.ShouldBe((byte)1);
        platform.IsRmpInitialized.ShouldBeTrue();
        platform.GuestCount.ShouldBe(0u);
        var record = rig.Logs.Single(5010, LogLevel.Information);
        record.Message.ShouldContain("API:1.55");
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
    }

    [Fact]
    public void SnpInit_IsOnce_ASecondCallSendsNothing()
    {
        var rig = new PspRig();
        rig.Up();
        long commands = rig.Machine.Psp.CommandsCompleted;
        rig.Sev.SnpInit(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(commands);
    }

    [Fact]
    public void SnpInit_OnAnIommuThatIsNotUp_FailsTheIommuCheck_AndSendsNoCommand()
    {
        var rig = new PspRig(initIommu: false);
        rig.Sev.SnpInit(out var status).ShouldNotBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(0);
        rig.Logs.Single(5012, LogLevel.Error);
        rig.Sev.SnpInitialized.ShouldBeFalse();
    }

    [Fact]
    public void SnpInit_InPassthrough_IsEinval()
    {
        var rig = new PspRig(amd: new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, Passthrough = true });
        rig.Sev.SnpInit(out _).ShouldBe(Errno.EINVAL);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(0);
    }

    [Fact]
    public void SnpInit_WhenFirmwareRefuses_IsEioWithTheStatus_AndTheDriverStaysUsable()
    {
        // An IOMMU without SNP support: the driver's check passes only if EFR says SNPSup; here the
        // firmware is asked directly with an IOMMU that is off, and answers HWSEV_RET_PLATFORM.
        var rig = new PspRig();
        rig.Amd.SnpEnable().ShouldBe(Errno.Ok);
        rig.Machine.Mmio.Write64(Machine.IommuMmioBase + AmdIommuMmio.ControlOffset, 0);
        rig.Sev.SnpInit(out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.HwsevRetPlatform);
        rig.Sev.SnpInitialized.ShouldBeFalse();
        var record = rig.Logs.Single(5011, LogLevel.Error);
        record.Message.ShouldContain("HwsevRetPlatform");
        rig.PlatformStatus().State.ShouldBe((byte)0);
    }

    [Fact]
    public void SnpShutdown_TurnsSnpOff_AndHandsTheIommuPagesBack_ThenSnpComesUpAgain()
    {
        var rig = new PspRig();
        rig.Up();
        var pages = new AmdIommuSnp(rig.Amd).SnpPages();
        rig.Sev.SnpShutdown(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Sev.SnpInitialized.ShouldBeFalse();
        rig.Machine.Iommu.SnpEnforced.ShouldBeFalse();
        foreach (ulong page in pages)
            rig.State(page).ShouldBe(RmpState.Hypervisor);
        rig.Logs.Single(5013, LogLevel.Information).Message.ShouldContain("2 IOMMU pages");
        rig.PlatformStatus().State.ShouldBe((byte)0);
        rig.Sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
        rig.Up();
        rig.PlatformStatus().State.ShouldBe((byte)1);
    }

    [Fact]
    public void SnpShutdown_RunsTheIommuDriversSnpDisable_WhichSharesEveryPageFirmwareHeld()
    {
        var rig = new PspRig();
        rig.Up();
        var pages = rig.Amd.SnpPages();
        rig.Amd.SnpDisable().ShouldBe(Errno.EFAULT, "while SNP is up the pages are immutable firmware pages");
        rig.Logs.Single(3136, LogLevel.Error).Message.ShouldContain("Permission");
        foreach (ulong page in pages)
            rig.State(page).ShouldBe(RmpState.Firmware);
        rig.Sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
        rig.Logs.Single(3137, LogLevel.Information).Message.ShouldContain($"{pages.Count} IOMMU pages");
        foreach (ulong page in pages)
            rig.State(page).ShouldBe(RmpState.Hypervisor);
        rig.Amd.SnpDisable().ShouldBe(Errno.Ok, "making shared pages shared again changes nothing");
    }

    [Fact]
    public void SnpShutdown_AfterAGuestContextWasReclaimed_FlushesTheDataFabric_AndRetries()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.Ok);
        // Reclaiming a context page leaves the firmware wanting SNP_DF_FLUSH before SNP_SHUTDOWN_EX.
        rig.Sev.SnpReclaimPages(context!.Pa, 1, out _).ShouldBe(Errno.Ok);
        rig.State(context.Pa).ShouldBe(RmpState.Hypervisor);
        long before = rig.Machine.Psp.CommandsCompleted;
        rig.Sev.SnpShutdown(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Logs.Single(5014, LogLevel.Information);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(before + 3);
        rig.Sev.SnpInitialized.ShouldBeFalse();
    }

    [Fact]
    public void PlatformStatus_WhileSnpIsUp_UsesAFirmwarePage_AndGivesItBack()
    {
        var rig = new PspRig();
        rig.Up();
        long frames = rig.Allocator.FramesInUse;
        rig.PlatformStatus().State.ShouldBe((byte)1);
        rig.Allocator.FramesInUse.ShouldBe(frames);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
        // The page went back to the hypervisor: the next allocation gets a shared page.
        rig.Allocator.TryAlloc(out ulong next).ShouldBeTrue();
        rig.State(next).ShouldBe(RmpState.Hypervisor);
    }

    [Fact]
    public void GctxCreate_MakesAContextPage_CountedByFirmware()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.SnpGctxCreate(out var context, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        context.ShouldNotBeNull();
        context.Alive.ShouldBeTrue();
        context.Asid.ShouldBe((ushort)0);
        rig.State(context.Pa).ShouldBe(RmpState.Context);
        rig.PlatformStatus().GuestCount.ShouldBe(1u);
    }

    [Fact]
    public void GctxCreate_WhileSnpIsDown_IsEnodev_AndAllocatesNothing()
    {
        var rig = new PspRig();
        long frames = rig.Allocator.FramesInUse;
        rig.Sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.ENODEV);
        context.ShouldBeNull();
        rig.Allocator.FramesInUse.ShouldBe(frames);
    }

    [Fact]
    public void ActivateAndDecommission_RefuseBadHandles_BeforeFirmware()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.Ok);
        long before = rig.Machine.Psp.CommandsCompleted;
        rig.Sev.SnpActivate(context!, 0, out _).ShouldBe(Errno.EINVAL);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(before);
    }

    [Fact]
    public void ReclaimPages_OfAPageFirmwareKeeps_LeaksItAndTheRest_OnPurpose()
    {
        var rig = new PspRig();
        rig.Up();
        // The event log page is the firmware's while SNP is on: reclaim is refused.
        ulong log = rig.Amd.EventLogPa;
        rig.Sev.SnpReclaimPages(log, 1, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPageState);
        rig.Sev.Rmp.LeakedPages.ShouldBe(1);
        rig.Sev.Rmp.IsLeaked(log).ShouldBeTrue();
        rig.Logs.Single(5022, LogLevel.Warning);
        rig.Logs.Single(5023, LogLevel.Error).Message.ShouldContain("InvalidPageState");
        rig.State(log).ShouldBe(RmpState.Firmware);
        rig.PlatformStatus().State.ShouldBe((byte)1);
    }

    [Fact]
    public void MarkPagesFirmware_ThenReclaim_RoundTrips()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.RmpMarkPagesFirmware(PspRig.Spare2M, 3, out _).ShouldBe(Errno.Ok);
        for (ulong i = 0; i < 3; i++)
            rig.State(PspRig.Spare2M + (i * 0x1000)).ShouldBe(RmpState.Firmware);
        rig.Sev.SnpReclaimPages(PspRig.Spare2M, 3, out _).ShouldBe(Errno.Ok);
        for (ulong i = 0; i < 3; i++)
            rig.State(PspRig.Spare2M + (i * 0x1000)).ShouldBe(RmpState.Hypervisor);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
    }

    [Fact]
    public void MarkPagesFirmware_FailingHalfway_ReclaimsThePagesItChanged()
    {
        var rig = new PspRig();
        rig.Up();
        // The third page is inside a 2M entry: its 4K RMPUPDATE overlaps.
        ulong third = PspRig.Spare2M + 0x20_0000;
        rig.Sev.Rmp.RmpMakeShared(third, RmpPageLevel.Level2M, out _).ShouldBe(Errno.Ok);
        ulong first = third - 0x2000;
        rig.Sev.RmpMarkPagesFirmware(first, 3, out _).ShouldBe(Errno.EFAULT);
        rig.State(first).ShouldBe(RmpState.Hypervisor);
        rig.State(first + 0x1000).ShouldBe(RmpState.Hypervisor);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
    }

    [Fact]
    public void PageReclaim_WithTheWrongSize_IsInvalidPageSize()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.Rmp.RmpMakePrivate(PspRig.Spare2M, 0, RmpPageLevel.Level2M, 0, immutable: true, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpPageReclaim(PspRig.Spare2M, RmpPageLevel.Level4K, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPageSize);
        rig.Sev.SnpPageReclaim(PspRig.Spare2M, RmpPageLevel.Level2M, out status).ShouldBe(Errno.Ok);
        rig.State(PspRig.Spare2M).ShouldBe(RmpState.Reclaim);
        rig.Sev.Rmp.RmpMakeShared(PspRig.Spare2M, RmpPageLevel.Level2M, out _).ShouldBe(Errno.Ok);
        rig.State(PspRig.Spare2M + 0x1F_F000).ShouldBe(RmpState.Hypervisor);
    }

    [Fact]
    public void Commands_WhileSnpIsDown_GetTheFirmwaresStatus()
    {
        var rig = new PspRig();
        rig.Sev.SnpPageReclaim(PspRig.Spare2M, RmpPageLevel.Level4K, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPlatformState);
        rig.Sev.SnpPageUnsmash(PspRig.Spare2M, out status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPlatformState);
        rig.Sev.DoCmd(SevCommandId.SnpDfFlush, [], out status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPlatformState);
        rig.Up();
    }

    [Fact]
    public void UnknownCommand_IsInvalidCommand_AndTheNextCommandWorks()
    {
        var rig = new PspRig();
        rig.Sev.DoCmd((SevCommandId)0x7F, [0], out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidCommand);
        rig.Logs.All.ShouldContain(r => r.Id.Id == 5003 && r.Level == LogLevel.Debug);
        rig.PlatformStatus().State.ShouldBe((byte)0);
    }

    [Fact]
    public void AMalformedShutdownBuffer_IsInvalidLen()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.DoCmd(SevCommandId.SnpShutdownEx, [default(SnpShutdownExBuffer).WithLength(16).Raw], out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidLen);
        rig.Sev.DoCmd(SevCommandId.SnpShutdownEx, [default(SnpShutdownExBuffer).WithLength(8).Raw | (1UL << 40)], out status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidParam);
        rig.PlatformStatus().State.ShouldBe((byte)1);
    }

    [Fact]
    public void ABufferLongerThanAPage_IsEinval()
    {
        var rig = new PspRig();
        rig.Sev.DoCmd(SevCommandId.SnpInitEx, new ulong[513], out _).ShouldBe(Errno.EINVAL);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(0);
    }
}
