using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Dma;

namespace Driver.Platform.Tests;

public class DmaAgentTests
{
    private const ushort Dev = 0x50;
    private const ushort Domain = 2;

    private static (DeviceRig D, ulong Root) Setup()
    {
        var d = new DeviceRig().Init();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        return (d, root);
    }

    [Fact]
    public void An_agent_issues_at_its_rate_and_records_every_outcome()
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x1000, 0x9000);
        d.Map4K(root, 3, 0x2000, 0xA000, write: false);
        var m = d.Machine;
        m.Memory.WriteU64(0x9000, 0x1122);
        var agent = m.AddDmaAgent(new DmaAgentConfig(Dev, [
            new DmaOp(0x1000, 16, false),
            new DmaOp(0x2000, 8, true),
            new DmaOp(0x3000, 8, false),
        ]) { StartNs = 5_000, IntervalNs = 2_000 });
        m.Scheduler.RunUntilIdle();
        agent.Records.Select(r => r.Outcome).ShouldBe([DmaOutcome.Completed, DmaOutcome.Faulted, DmaOutcome.Faulted]);
        agent.Records.Select(r => r.IssuedNs).ShouldBe([5_000L, 7_000L, 9_000L]);
        var first = agent.Records[0];
        first.FirstWordRead.ShouldBe(0x1122UL);
        first.FinishedNs.ShouldBe(5_000 + 4 * m.Costs.IommuMemoryAccessNs + m.Costs.DmaTransferNs(16));
        first.DeviceId.ShouldBe(Dev);
        var fault = new IoPageFaultDetailEvent([agent.Records[1].EventWord0, agent.Records[1].EventWord1]);
        fault.PermissionFault.ShouldBeTrue();
        fault.Write.ShouldBeTrue();
        DeviceRig.Code((agent.Records[2].EventWord0, agent.Records[2].EventWord1)).ShouldBe(EventCode.IoPageFault);
        agent.NextDueNs.ShouldBe(long.MaxValue);
        agent.DeviceId.ShouldBe(Dev);
    }

    [Fact]
    public void Writes_land_in_every_page_of_a_transaction_through_the_translation()
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x1000, 0x9000);
        d.Map4K(root, 3, 0x2000, 0x5000);
        var agent = d.Machine.AddDmaAgent(new DmaAgentConfig(Dev, [new DmaOp(0x1FF8, 16, true)]) { Transactions = 3 });
        d.Machine.Scheduler.RunUntilIdle();
        agent.Records.Count.ShouldBe(3);
        d.Machine.Memory.ReadU64(0x9FF8).ShouldBe(0x0202020202020202UL);
        d.Machine.Memory.ReadU64(0x5000).ShouldBe(0x0202020202020202UL);
    }

    [Fact]
    public void A_fault_in_the_second_page_ends_the_transaction()
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x1000, 0x9000);
        var agent = d.Machine.AddDmaAgent(new DmaAgentConfig(Dev, [new DmaOp(0x1FF8, 16, true)]));
        d.Machine.Scheduler.RunUntilIdle();
        agent.Records.Single().Outcome.ShouldBe(DmaOutcome.Faulted);
        new IoPageFaultEvent([agent.Records[0].EventWord0, agent.Records[0].EventWord1]).Address.ShouldBe(0x2000UL);
    }

    [Fact]
    public void Blocked_and_refused_outcomes()
    {
        var d = PspMailbox.SnpMachine();
        d.SetDte(Dev, DeviceRig.Dte(0, PagingMode.Level3, Domain).WithTranslationValid(false));
        d.Machine.Cpu.Rmpupdate(0x8000, new RmpUpdateArgs(0, true, false, false, 3)).ShouldBe(RmpUpdateResult.Success);
        var blocked = d.Machine.AddDmaAgent(new DmaAgentConfig(Dev, [new DmaOp(0x1000, 8, false)]));
        var refused = d.Machine.AddDmaAgent(new DmaAgentConfig(Dev + 1, [new DmaOp(0x8000, 8, false)]));
        d.Machine.Scheduler.RunUntilIdle();
        blocked.Records.Single().Outcome.ShouldBe(DmaOutcome.Blocked);
        refused.Records.Single().Outcome.ShouldBe(DmaOutcome.RmpRefused);
    }

    [Fact]
    public void Dma_beyond_physical_memory_is_aborted_not_a_crash()
    {
        var m = new Machine();
        var agent = m.AddDmaAgent(new DmaAgentConfig(1, [new DmaOp(IPhysicalMemory.Limit - 8, 16, true), new DmaOp(IPhysicalMemory.Limit - 16, 16, true)]));
        m.Scheduler.RunUntilIdle();
        agent.Records.Select(r => r.Outcome).ShouldBe([DmaOutcome.Aborted, DmaOutcome.Completed]);
    }

    [Fact]
    public void Bad_agent_configurations_throw()
    {
        var m = new Machine();
        Should.Throw<ArgumentException>(() => m.AddDmaAgent(new DmaAgentConfig(1, [])));
        Should.Throw<ArgumentOutOfRangeException>(() => m.AddDmaAgent(new DmaAgentConfig(1, [new DmaOp(0, 8, false)]) { IntervalNs = 0 }));
        Should.Throw<ArgumentOutOfRangeException>(() => m.AddDmaAgent(new DmaAgentConfig(1, [new DmaOp(0, 0, false)])));
        m.AddDmaAgent(new DmaAgentConfig(1, [new DmaOp(0, 8, false)]) { Transactions = 0 }).NextDueNs.ShouldBe(long.MaxValue);
        m.Agents.Count.ShouldBe(1);
    }
}
