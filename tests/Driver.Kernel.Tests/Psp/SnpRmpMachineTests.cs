using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Kernel.Psp;
using Driver.Platform;
using Driver.Platform.Psp;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>The RMP helpers, UNSMASH, the proposed IOPDE smash and a PSP that does not answer in time, on the machine.</summary>
public sealed class SnpRmpMachineTests
{
    private const ulong Page = PspRig.Spare2M;

    [Fact]
    public void MakePrivate4K_ThenShared_RoundTrips()
    {
        var rig = new PspRig();
        var rmp = rig.Sev.Rmp;
        rmp.RmpMakePrivate(Page + 0x3000, 0x7000, RmpPageLevel.Level4K, 5, immutable: false, out var result).ShouldBe(Errno.Ok);
        result.ShouldBe(RmpUpdateResult.Success);
        var entry = rig.Entry(Page + 0x3000, out bool is2M);
        is2M.ShouldBeFalse();
        entry.Asid.ShouldBe((ushort)5);
        entry.Gpa.ShouldBe(0x7000UL);
        RmpStates.Classify(entry).ShouldBe(RmpState.GuestInvalid);
        rig.State(Page + 0x2000).ShouldBe(RmpState.Hypervisor);
        rmp.RmpMakeShared(Page + 0x3000, RmpPageLevel.Level4K, out _).ShouldBe(Errno.Ok);
        rig.State(Page + 0x3000).ShouldBe(RmpState.Hypervisor);
    }

    [Fact]
    public void MakePrivate2M_ThenPsmash_ThenUnsmash_KeepsTheGuestsRun()
    {
        var rig = new PspRig();
        rig.Up();
        var rmp = rig.Sev.Rmp;
        rmp.RmpMakePrivate(Page, 0x4000_0000, RmpPageLevel.Level2M, 9, immutable: false, out _).ShouldBe(Errno.Ok);
        rig.Entry(Page + 0x1F_F000, out bool is2M).Asid.ShouldBe((ushort)9);
        is2M.ShouldBeTrue();

        rmp.Psmash(Page, out var smashed).ShouldBe(Errno.Ok);
        smashed.ShouldBe(PsmashResult.Success);
        var last = rig.Entry(Page + 0x1F_F000, out is2M);
        is2M.ShouldBeFalse();
        last.Asid.ShouldBe((ushort)9);
        last.Gpa.ShouldBe(0x4000_0000UL + 0x1F_F000);

        rig.Sev.SnpPageUnsmash(Page, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Entry(Page + 0x1000, out is2M).Asid.ShouldBe((ushort)9);
        is2M.ShouldBeTrue();
    }

    [Fact]
    public void Unsmash_OfEntriesThatDiffer_IsInvalidPageState_AndChangesNothing()
    {
        var rig = new PspRig();
        rig.Up();
        var rmp = rig.Sev.Rmp;
        rmp.RmpMakePrivate(Page, 0, RmpPageLevel.Level2M, 9, immutable: false, out _).ShouldBe(Errno.Ok);
        rmp.Psmash(Page, out _).ShouldBe(Errno.Ok);
        rmp.RmpMakeShared(Page + 0x5000, RmpPageLevel.Level4K, out _).ShouldBe(Errno.Ok);
        rig.Sev.SnpPageUnsmash(Page, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPageState);
        rig.State(Page + 0x5000).ShouldBe(RmpState.Hypervisor);
        rig.Entry(Page, out bool is2M).Asid.ShouldBe((ushort)9);
        is2M.ShouldBeFalse();
        rig.Sev.SnpPageUnsmash(Page + 0x1000, out _).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void A4KUpdateInsideA2MEntry_OverlapsEveryTime_AndIsEfaultAfterTheRetries()
    {
        var rig = new PspRig(new SevDeviceConfig { MmioBase = Machine.PspMmioBase, RmpUpdateRetries = 4 });
        var rmp = rig.Sev.Rmp;
        rmp.RmpMakeShared(Page, RmpPageLevel.Level2M, out _).ShouldBe(Errno.Ok);
        rmp.RmpMakePrivate(Page + 0x1000, 0x1000, RmpPageLevel.Level4K, 1, false, out var result).ShouldBe(Errno.EFAULT);
        result.ShouldBe(RmpUpdateResult.Overlap);
        rig.Logs.Single(5020, LogLevel.Error).Message.ShouldContain("Overlap");
        rig.State(Page + 0x1000).ShouldBe(RmpState.Hypervisor);
        // Smashed first, the same update goes through.
        rmp.Psmash(Page, out _).ShouldBe(Errno.Ok);
        rmp.RmpMakePrivate(Page + 0x1000, 0x1000, RmpPageLevel.Level4K, 1, false, out _).ShouldBe(Errno.Ok);
    }

    [Theory]
    [InlineData(Page + 0x1000, RmpPageLevel.Level2M, 0UL, (ushort)1)]   // SPA not 2M aligned
    [InlineData(Page, RmpPageLevel.Level2M, 0x1000UL, (ushort)1)]       // GPA not 2M aligned
    [InlineData(0x10_0000_0000UL, RmpPageLevel.Level4K, 0UL, (ushort)1)] // beyond the RMP
    [InlineData(Page, RmpPageLevel.Level4K, 0UL, (ushort)0x400)]         // ASID wider than its field
    public void BadOperands_AreEfaultWithInput_AndLeaveTheRmpAsItWas(ulong spa, RmpPageLevel level, ulong gpa, ushort asid)
    {
        var rig = new PspRig();
        rig.Sev.Rmp.RmpMakePrivate(spa, gpa, level, asid, false, out var result).ShouldBe(Errno.EFAULT);
        result.ShouldBe(RmpUpdateResult.Input);
        rig.State(Page).ShouldBe(RmpState.Hypervisor);
        rig.Sev.Rmp.RmpMakePrivate(Page, 0, RmpPageLevel.Level4K, 1, false, out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void AFirmwarePage_CannotBeMadeSharedByTheHost()
    {
        var rig = new PspRig();
        rig.Up();
        rig.Sev.RmpMarkPagesFirmware(Page, 1, out _).ShouldBe(Errno.Ok);
        rig.Sev.Rmp.RmpMakeShared(Page, RmpPageLevel.Level4K, out var result).ShouldBe(Errno.EFAULT);
        result.ShouldBe(RmpUpdateResult.Permission);
        rig.State(Page).ShouldBe(RmpState.Firmware);
    }

    [Fact]
    public void Psmash_BadRequests_GetTheirErrno()
    {
        var rig = new PspRig();
        var rmp = rig.Sev.Rmp;
        rmp.Psmash(Page + 0x1000, out var result).ShouldBe(Errno.EINVAL);
        result.ShouldBe(PsmashResult.Input);
        rmp.Psmash(Page, out result).ShouldBe(Errno.EINVAL);          // 4K entries: nothing to smash
        result.ShouldBe(PsmashResult.Input);
        rmp.Psmash(0x10_0000_0000, out result).ShouldBe(Errno.EINVAL);
        result.ShouldBe(PsmashResult.BadAddress);
        rmp.RmpMakePrivate(Page, 0, RmpPageLevel.Level2M, 0, immutable: true, out _).ShouldBe(Errno.Ok);
        rmp.Psmash(Page, out result).ShouldBe(Errno.EPERM);
        result.ShouldBe(PsmashResult.Permission);
        rig.Logs.All.Count(r => r.Id.Id == 5021 && r.Level == LogLevel.Warning).ShouldBe(4);
        rig.Entry(Page, out bool is2M).Immutable.ShouldBeTrue();
        is2M.ShouldBeTrue();
    }

    [Fact]
    public void ProposedIopdeSmash_SwapsTheIopdeForTheTable_AndSmashesTheRmpEntry()
    {
        var rig = new PspRig();
        rig.Up();
        ulong iopde = Iopde(rig, out ulong table);
        rig.Sev.ProposedIopdeSmash(iopde, table, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        var swapped = new AmdV1Pte(rig.Machine.Memory.ReadU64(iopde));
        swapped.NextLevel.ShouldBe((byte)1);
        swapped.Address.ShouldBe(table);
        rig.Entry(Page, out bool is2M).Asid.ShouldBe((ushort)3);
        is2M.ShouldBeFalse();
        rig.Logs.Single(5040, LogLevel.Warning).Message.ShouldContain("PROPOSED");
        rig.Sev.ProposedIopdeSmash(iopde + 4, table, out _).ShouldBe(Errno.EINVAL);
        rig.Sev.ProposedIopdeSmash(iopde, table + 8, out _).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void ProposedIopdeSmash_OfAnIopdeThatIsNotA2MLeaf_IsInvalidParam()
    {
        var rig = new PspRig();
        rig.Up();
        ulong iopde = Iopde(rig, out ulong table);
        rig.Machine.Memory.WriteU64(iopde, 0);
        rig.Sev.ProposedIopdeSmash(iopde, table, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidParam);
        rig.Logs.Single(5011, LogLevel.Error);
        rig.Entry(Page, out bool is2M).Asid.ShouldBe((ushort)3);
        is2M.ShouldBeTrue();
    }

    [Fact]
    public void APspThatDoesNotAnswerInTime_IsEtimedout_ThenTheDriverRefusesEverything()
    {
        // The proposed call holds the mailbox for its 10 ms stall; the driver waits only 5 ms.
        var rig = new PspRig(new SevDeviceConfig { MmioBase = Machine.PspMmioBase, CommandTimeoutNs = 5_000_000 },
            machine: new MachineConfig { Psp = new PspConfig { IopdeSmashStallNs = 10_000_000 } });
        rig.Up();
        ulong iopde = Iopde(rig, out ulong table);
        long start = rig.Machine.Clock.NowNs;
        rig.Sev.ProposedIopdeSmash(iopde, table, out var status).ShouldBe(Errno.ETIMEDOUT);
        status.ShouldBe(SevStatus.Success);
        (rig.Machine.Clock.NowNs - start).ShouldBeInRange(5_000_000, 6_100_000);
        rig.Sev.Mailbox.Dead.ShouldBeTrue();
        rig.Logs.Single(5002, LogLevel.Error).Message.ShouldContain("disabling PSP");
        long issued = rig.Sev.Mailbox.CommandsIssued;
        rig.Sev.SnpPlatformStatus(out _, out _).ShouldBe(Errno.EBUSY);
        rig.Sev.Mailbox.CommandsIssued.ShouldBe(issued);
        rig.Logs.Single(5004, LogLevel.Warning);
        rig.Sev.Rmp.LeakedPages.ShouldBe(0);

        // The firmware finishes on its own (the smash done); a new driver finds SNP still up and the firmware answering.
        rig.Machine.Clock.Delay(5_000_000);
        rig.Entry(Page, out bool is2M).Asid.ShouldBe((ushort)3);
        is2M.ShouldBeFalse();
        var again = rig.NewDevice();
        again.Probe().ShouldBe(Errno.Ok);
        again.DoCmd(SevCommandId.SnpDfFlush, [], out status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
    }

    // A 2M leaf IOPDE mapping the guest's 2M page at Page and a filled table of 512 4K PTEs replacing it.
    private static ulong Iopde(PspRig rig, out ulong table)
    {
        rig.Sev.Rmp.RmpMakePrivate(Page, 0, RmpPageLevel.Level2M, 3, false, out _).ShouldBe(Errno.Ok);
        rig.Allocator.TryAlloc(out ulong directory).ShouldBeTrue();
        rig.Allocator.TryAlloc(out table).ShouldBeTrue();
        var leaf = default(AmdV1Pte).WithPresent(true).WithIoRead(true).WithIoWrite(true).WithAddress(Page);
        ulong iopde = directory + (5 * 8);
        rig.Machine.KernelMemory.WriteU64(iopde, leaf.Raw);
        for (ulong i = 0; i < 512; i++)
            rig.Machine.KernelMemory.WriteU64(table + (i * 8), leaf.WithAddress(Page + (i << 12)).Raw);
        return iopde;
    }
}
