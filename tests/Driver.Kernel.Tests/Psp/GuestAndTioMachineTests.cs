using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Psp;
using Driver.Platform;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>Guest contexts through their whole life, and a TDI bound to a guest doing trusted DMA through the AMD driver's tables.</summary>
public sealed class GuestAndTioMachineTests
{
    private const ushort Device = 0x31;
    private const ushort Asid = 5;
    private const ulong Spa2M = PspRig.Spare2M;
    private const ulong Gpa2M = 0x4000_0000;
    private const ulong Spa4K = PspRig.Spare2M + 0x40_0000;
    private const ulong Gpa4K = 0x5000_0000;

    private static PspRig TioRig() => new(
        new SevDeviceConfig { MmioBase = Machine.PspMmioBase, Tio = true },
        new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, HugePagesWithSnp = true },
        machine: new MachineConfig { Iommu = new IommuConfig { Efr2 = new ExtendedFeature2Register(0).WithSevSnpIoSup(true) } });

    [Fact]
    public void AGuest_IsCreatedActivatedAndDecommissioned_AndItsPageComesBack()
    {
        var rig = new PspRig();
        rig.Up();
        long frames = rig.Allocator.FramesInUse;
        rig.Sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpActivate(guest!, Asid, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        guest!.Asid.ShouldBe(Asid);
        rig.Sev.SnpActivate(guest, 6, out _).ShouldBe(Errno.EINVAL);
        rig.Sev.SnpDecommission(guest, out status).ShouldBe(Errno.Ok);
        guest.Alive.ShouldBeFalse();
        rig.State(guest.Pa).ShouldBe(RmpState.Hypervisor);
        rig.Allocator.FramesInUse.ShouldBe(frames);
        rig.PlatformStatus().GuestCount.ShouldBe(0u);
        rig.Sev.SnpDecommission(guest, out _).ShouldBe(Errno.EINVAL);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
        // The ASID's old guest forces SNP_DF_FLUSH before shutdown: handled there.
        rig.Sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
        rig.Logs.Single(5014, LogLevel.Information);
    }

    [Fact]
    public void ReusingAnAsid_FlushesTheDataFabric_BeforeActivating()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.SnpGctxCreate(out var first, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpActivate(first!, Asid, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpDecommission(first!, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpGctxCreate(out var second, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpActivate(second!, Asid, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Logs.Single(5016, LogLevel.Information);
    }

    [Fact]
    public void Activate_Refusals_KeepTheGuestUnbound()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpGctxCreate(out var other, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpActivate(guest!, 1000, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidAsid);
        guest!.Asid.ShouldBe((ushort)0);
        rig.Sev.SnpActivate(other!, Asid, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpActivate(guest, Asid, out status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.AsidOwned);
        rig.Sev.SnpActivate(guest, Asid + 1, out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void Tio_WithoutTioEnabled_IsUnsupported()
    {
        var rig = new PspRig();
        rig.Sev.TioInit(out _).ShouldBe(Errno.ENODEV);
        rig.Up();
        rig.Sev.TioInit(out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.Unsupported);
        rig.Sev.TioInitialized.ShouldBeFalse();
    }

    [Fact]
    public void ATdi_IsCreatedBoundUnboundAndReclaimed()
    {
        var rig = TioRig();
        rig.Up();
        rig.Sev.TioInit(out _).ShouldBe(Errno.Ok);
        rig.Sev.TioInitialized.ShouldBeTrue();
        long frames = rig.Allocator.FramesInUse;
        rig.Sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        rig.Sev.TdiCreate(Device, out var tdi, out _).ShouldBe(Errno.Ok);
        rig.Sev.TdiBind(tdi!, guest!, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidGuestState);
        rig.Sev.SnpActivate(guest!, Asid, out _).ShouldBe(Errno.Ok);
        rig.Sev.TdiBind(tdi!, guest!, out _).ShouldBe(Errno.Ok);
        tdi!.Guest.ShouldBeSameAs(guest);
        rig.Machine.Iommu.TdiAsid(Device).ShouldBe(Asid);
        rig.Sev.TdiBind(tdi, guest!, out _).ShouldBe(Errno.EINVAL);
        rig.Sev.TdiReclaim(tdi, out _).ShouldBe(Errno.EINVAL);
        rig.Sev.SnpDecommission(guest!, out status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InUse);
        guest!.Alive.ShouldBeTrue();
        rig.Sev.TdiUnbind(tdi, out _).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.TdiAsid(Device).ShouldBe((ushort)0);
        rig.Sev.TdiUnbind(tdi, out _).ShouldBe(Errno.EINVAL);
        rig.Sev.TdiReclaim(tdi, out _).ShouldBe(Errno.Ok);
        tdi.Alive.ShouldBeFalse();
        rig.Sev.SnpDecommission(guest, out _).ShouldBe(Errno.Ok);
        rig.Allocator.FramesInUse.ShouldBe(frames);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
        rig.Logs.All.Count(r => r.Id.Id == 5031).ShouldBe(4);
    }

    [Fact]
    public void ATdiForADeviceThatHasOne_IsAlreadyOwned_AndItsPageIsFreed()
    {
        var rig = TioRig();
        rig.Up();
        rig.Sev.TioInit(out _).ShouldBe(Errno.Ok);
        rig.Sev.TdiCreate(Device, out _, out _).ShouldBe(Errno.Ok);
        long frames = rig.Allocator.FramesInUse;
        rig.Sev.TdiCreate(Device, out var second, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.AlreadyOwned);
        second.ShouldBeNull();
        rig.Allocator.FramesInUse.ShouldBe(frames);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);
    }

    [Fact]
    public void ABoundTdi_ReadsAndWritesItsGuestsPrivatePages_ThroughA2MAndA4KMapping()
    {
        var rig = TioRig();
        rig.Up();
        rig.Sev.TioInit(out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpActivate(guest!, Asid, out _).ShouldBe(Errno.Ok);

        // The guest's private memory: a 2M page and a 4K page, assigned by the host and validated by the guest.
        var rmp = rig.Sev.Rmp;
        rmp.RmpMakePrivate(Spa2M, Gpa2M, RmpPageLevel.Level2M, Asid, false, out _).ShouldBe(Errno.Ok);
        rmp.RmpMakePrivate(Spa4K, Gpa4K, RmpPageLevel.Level4K, Asid, false, out _).ShouldBe(Errno.Ok);
        var vcpu = rig.Machine.GuestCpu(Asid);
        vcpu.Pvalidate(Gpa2M, Spa2M, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.Success);
        vcpu.Pvalidate(Gpa4K, Spa4K, pageSize2M: false, validate: true).ShouldBe(PvalidateResult.Success);
        rig.State(Spa2M + 0x1000).ShouldBe(RmpState.GuestValid);

        // The host's I/O page table maps guest addresses to the private pages.
        AmdProtectionDomain.Alloc(rig.Amd, out var domain).ShouldBe(Errno.Ok);
        domain!.MapPages(Gpa2M, Spa2M, 1UL << 21, 1, IommuProt.Read | IommuProt.Write, out _).ShouldBe(Errno.Ok);
        domain.MapPages(Gpa4K, Spa4K, 1UL << 12, 1, IommuProt.Read | IommuProt.Write, out _).ShouldBe(Errno.Ok);
        domain.Attach(Device).ShouldBe(Errno.Ok);

        rig.Sev.TdiCreate(Device, out var tdi, out _).ShouldBe(Errno.Ok);
        rig.Sev.TdiBind(tdi!, guest!, out _).ShouldBe(Errno.Ok);
        rig.Machine.Memory.WriteU64(Spa2M + 0x3000, 0xFEED_0001);
        rig.Machine.Memory.WriteU64(Spa4K + 0x10, 0xFEED_0002);
        var trusted = rig.Machine.AddDmaAgent(new DmaAgentConfig(Device,
            [new DmaOp(Gpa2M + 0x3000, 8, false), new DmaOp(Gpa4K + 0x10, 8, false), new DmaOp(Gpa2M + 0x1F_F000, 8, true), new DmaOp(Gpa4K, 8, true)])
        { Trusted = true });
        rig.Machine.Clock.Delay(1_000_000);
        trusted.Records.Count.ShouldBe(4);
        trusted.Records.ShouldAllBe(r => r.Outcome == DmaOutcome.Completed);
        trusted.Records[0].FirstWordRead.ShouldBe(0xFEED_0001UL);
        trusted.Records[1].FirstWordRead.ShouldBe(0xFEED_0002UL);

        // Unbound, the same device is the host's again: refused on the guest's private pages.
        rig.Sev.TdiUnbind(tdi!, out _).ShouldBe(Errno.Ok);
        var unbound = rig.Machine.AddDmaAgent(new DmaAgentConfig(Device, [new DmaOp(Gpa2M + 0x3000, 8, false)]) { Trusted = true });
        var untrusted = rig.Machine.AddDmaAgent(new DmaAgentConfig(Device, [new DmaOp(Gpa4K, 8, false)]));
        rig.Machine.Clock.Delay(1_000_000);
        unbound.Records.Single().Outcome.ShouldBe(DmaOutcome.RmpRefused);
        untrusted.Records.Single().Outcome.ShouldBe(DmaOutcome.RmpRefused);
        rig.Machine.Monitor.Violations.ShouldBeEmpty();
    }
}
