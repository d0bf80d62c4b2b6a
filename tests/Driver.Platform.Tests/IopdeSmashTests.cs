using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Driver.Platform.Psp;

namespace Driver.Platform.Tests;

/// <summary>The firmware call proposed in seed 000: stall DMA, swap the 2M IOPDE for a 4K table, PSMASH, resume.</summary>
public class IopdeSmashTests
{
    private const ushort Dev = 0x40;
    private const ushort Domain = 4;
    private const ulong Spa = 0x4000_0000;
    private const ulong Iova = 0x20_0000;

    private static (DeviceRig D, ulong Slot, ulong Table) Setup(MachineConfig? config = null) => Setup(out _, config);

    private static (DeviceRig D, ulong Slot, ulong Table) Setup(out ulong root, MachineConfig? config = null)
    {
        var d = PspMailbox.SnpMachine(config: config);
        root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        d.Machine.Cpu.Rmpupdate(Spa, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Success);
        ulong slot = d.Map(root, 3, Iova, DeviceRig.Pte(Spa, 0), 2);
        ulong table = d.AllocTable();
        for (ulong i = 0; i < 512; i++)
            d.Mem.WriteU64(table + i * 8, DeviceRig.Pte(Spa + (i << 12), 0).Raw);
        return (d, slot, table);
    }

    private static SevStatus Smash(Machine m, ulong slot, ulong table)
    {
        var buffer = default(ProposedIopdeSmashBuffer).WithIopdeAddress(slot).WithPteTableAddress(table);
        PspMailbox.WriteWords(m, PspMailbox.Buffer, buffer.GetWord(0), buffer.GetWord(1));
        return PspMailbox.Call(m, ProposedCommands.IopdeSmash, polls: 1000);
    }

    [Fact]
    public void The_call_swaps_the_entry_smashes_the_rmp_and_dma_only_stalls()
    {
        var (d, slot, table) = Setup();
        var m = d.Machine;
        d.Dma(Dev, Iova + 0x3000).Result.PageShift.ShouldBe(21);
        var agent = m.AddDmaAgent(new DmaAgentConfig(Dev, [new DmaOp(Iova + 0x3000, 64, true)])
        {
            StartNs = m.SimClock.NowNs + 1_000_000,
            IntervalNs = 100_000,
            Transactions = 60,
        });
        long start = m.SimClock.NowNs;
        Smash(m, slot, table).ShouldBe(SevStatus.Success);
        (m.SimClock.NowNs - start).ShouldBeGreaterThanOrEqualTo(m.Config.Psp.IopdeSmashStallNs);
        new AmdV1Pte(m.Memory.ReadU64(slot)).NextLevel.ShouldBe((byte)1);
        new AmdV1Pte(m.Memory.ReadU64(slot)).Address.ShouldBe(table);
        m.Rmp.Read((Spa >> 12) + 3).PageSize.ShouldBeFalse();
        m.Scheduler.RunUntilIdle();

        agent.Records.Count.ShouldBe(60);
        agent.Records.ShouldAllBe(r => r.Outcome == DmaOutcome.Completed);
        agent.Records.Count(r => r.StalledNs > 0).ShouldBeGreaterThan(0);
        agent.Records.Max(r => r.StalledNs).ShouldBeLessThanOrEqualTo(m.Config.Psp.IopdeSmashStallNs);
        // After the swap the 4K RMP entry matches a 4K I/O page under today's rule.
        d.Dma(Dev, Iova + 0x3000).Result.PageShift.ShouldBe(12);
    }

    [Fact]
    public void The_stall_holds_exactly_the_2m_page_being_smashed()
    {
        var (d, slot, table) = Setup(out ulong root);
        var m = d.Machine;
        // The next 2 MiB page, mapped and shared the same way, is not held.
        m.Cpu.Rmpupdate(Spa + 0x20_0000, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Success);
        d.Map(root, 3, Iova + 0x20_0000, DeviceRig.Pte(Spa + 0x20_0000, 0), 2);
        var buffer = default(ProposedIopdeSmashBuffer).WithIopdeAddress(slot).WithPteTableAddress(table);
        PspMailbox.WriteWords(m, PspMailbox.Buffer, buffer.GetWord(0), buffer.GetWord(1));
        m.Mmio.Write32(Machine.PspMmioBase + PspMmio.CmdBufferAddressLoOffset, (uint)PspMailbox.Buffer);
        m.Mmio.Write32(Machine.PspMmioBase + PspMmio.CmdBufferAddressHiOffset, 0);
        m.Mmio.Write32(Machine.PspMmioBase + PspMmio.CmdRespOffset, new PspCmdRespRegister(0).WithCommandId(ProposedCommands.IopdeSmash).Raw);
        m.Iommu.Translate(Dev, Iova + 0x1F_FFC0, write: true).Status.ShouldBe(TranslationStatus.Stalled, "the last line of the page");
        m.Iommu.Translate(Dev, Iova + 0x20_0000, write: true).Status.ShouldBe(TranslationStatus.Ok, "the first byte of the next page");
        m.Scheduler.RunUntilIdle();
        m.Iommu.Translate(Dev, Iova + 0x1F_FFC0, write: true).Status.ShouldBe(TranslationStatus.Ok);
    }

    [Fact]
    public void Without_the_call_the_sequence_iommu_then_rmp_fails_dma_in_the_window()
    {
        var (d, slot, table) = Setup();
        var m = d.Machine;
        var agent = m.AddDmaAgent(new DmaAgentConfig(Dev, [new DmaOp(Iova + 0x3000, 64, false)]) { StartNs = m.SimClock.NowNs, IntervalNs = 100, Transactions = 100_000 });
        // Linux order: swap the IOPDE, flush, then PSMASH.
        m.KernelMemory.WriteU64(slot, DeviceRig.Pte(table, 1).Raw);
        d.Submit(DeviceRig.InvalidatePages(Domain, Iova, size: true, pde: true));
        d.RunCommands().ShouldBeTrue();
        m.Cpu.Psmash(Spa).ShouldBe(PsmashResult.Success);
        m.Clock.Delay(10_000);
        agent.Records.Count(r => r.Outcome == DmaOutcome.RmpRefused).ShouldBeGreaterThan(0);
        agent.Records.Last().Outcome.ShouldBe(DmaOutcome.Completed);
    }

    [Fact]
    public void Bad_requests_get_status_codes_and_change_nothing()
    {
        var (d, slot, table) = Setup();
        var m = d.Machine;
        var bad = default(ProposedIopdeSmashBuffer).WithIopdeAddress(slot).WithPteTableAddress(table);
        PspMailbox.WriteWords(m, PspMailbox.Buffer, bad.GetWord(0) | 1, bad.GetWord(1));
        PspMailbox.Call(m, ProposedCommands.IopdeSmash).ShouldBe(SevStatus.InvalidParam);

        m.Memory.WriteU64(table + 5 * 8, DeviceRig.Pte(Spa, 0).Raw);
        Smash(m, slot, table).ShouldBe(SevStatus.InvalidParam);
        m.Memory.WriteU64(table + 5 * 8, DeviceRig.Pte(Spa + 0x5000, 0, write: false).Raw);
        Smash(m, slot, table).ShouldBe(SevStatus.InvalidParam);
        m.Memory.WriteU64(table + 5 * 8, DeviceRig.Pte(Spa + 0x5000, 1).Raw);
        Smash(m, slot, table).ShouldBe(SevStatus.InvalidParam);
        m.Memory.WriteU64(table + 5 * 8, 0);
        Smash(m, slot, table).ShouldBe(SevStatus.InvalidParam);
        m.Memory.WriteU64(table + 5 * 8, DeviceRig.Pte(Spa + 0x5000, 0).Raw);

        ulong odd = DeviceRig.Semaphore + 0x100;
        m.Memory.WriteU64(odd, DeviceRig.Pte(Spa, 1).Raw);
        Smash(m, odd, table).ShouldBe(SevStatus.InvalidParam, "not a leaf");
        m.Memory.WriteU64(odd, DeviceRig.Pte(Spa + 0x1000, 0).Raw);
        Smash(m, odd, table).ShouldBe(SevStatus.InvalidParam, "not 2M aligned");
        m.Memory.WriteU64(odd, 0);
        Smash(m, odd, table).ShouldBe(SevStatus.InvalidParam, "not present");

        m.Cpu.Psmash(Spa).ShouldBe(PsmashResult.Success);
        Smash(m, slot, table).ShouldBe(SevStatus.InvalidPageSize);
        new AmdV1Pte(m.Memory.ReadU64(slot)).NextLevel.ShouldBe((byte)0);
    }

    [Fact]
    public void The_call_rejects_memory_the_rmp_does_not_cover_and_can_be_switched_off()
    {
        var (d, _, _) = Setup();
        var m = d.Machine;
        ulong far = 0x10_0000_0000;
        ulong slot = DeviceRig.Semaphore + 0x200;
        ulong table = d.AllocTable();
        m.Memory.WriteU64(slot, DeviceRig.Pte(far, 0).Raw);
        for (ulong i = 0; i < 512; i++)
            m.Memory.WriteU64(table + i * 8, DeviceRig.Pte(far + (i << 12), 0).Raw);
        Smash(m, slot, table).ShouldBe(SevStatus.InvalidAddress);

        var off = Setup(new MachineConfig { Psp = new PspConfig { ProposedIopdeSmash = false } });
        Smash(off.D.Machine, off.Slot, off.Table).ShouldBe(SevStatus.InvalidCommand);
    }

    [Fact]
    public void The_call_is_logged_as_a_proposed_command()
    {
        var logs = new CapturedLogs();
        var (d, slot, table) = Setup(new MachineConfig { Psp = new PspConfig { LoggerFactory = logs } });
        Smash(d.Machine, slot, table).ShouldBe(SevStatus.Success);
        var record = logs.WithId(2204).ShouldHaveSingleItem();
        record.Level.ShouldBe(Microsoft.Extensions.Logging.LogLevel.Information);
        record.Message.ShouldContain("not a published AMD command");
        record.GetStructuredStateValue("Iopde").ShouldBe(slot.ToString());
        record.GetStructuredStateValue("Spa").ShouldBe(Spa.ToString());
        record.GetStructuredStateValue("StallNs").ShouldBe(d.Machine.Config.Psp.IopdeSmashStallNs.ToString());
        logs.WithId(2201).Last().GetStructuredStateValue("DurationNs").ShouldBe(d.Machine.Config.Psp.IopdeSmashStallNs.ToString());
    }
}
