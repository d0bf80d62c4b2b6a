using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Dma;
using Driver.Platform.Monitors;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Tests;

/// <summary>The bus, the monitors and the DMA agents log what a machine-check or a kernel would print (ids 2300-2399).</summary>
public class MachineLogTests
{
    [Fact]
    public void A_bus_error_is_a_warning_with_the_access()
    {
        var logs = new Logs();
        var m = new Machine(new MachineConfig { LoggerFactory = logs.Factory });
        m.Mmio.Read32(0x1234, out _).ShouldBe(MmioStatus.NoDevice);
        m.Mmio.Write64(Machine.IommuMmioBase + 4, 1).ShouldBe(MmioStatus.Misaligned);
        var records = logs.All.Where(r => r.Id.Id == 2300).ToList();
        records.Count.ShouldBe(2);
        records.ShouldAllBe(r => r.Level == LogLevel.Warning);
        records[0].Number("Address").ShouldBe(0x1234UL);
        records[0].Number("Size").ShouldBe(4UL);
        records[0].Value("Write").ShouldBe(bool.FalseString);
        records[0].Value("Status").ShouldBe(nameof(MmioStatus.NoDevice));
        records[1].Value("Status").ShouldBe(nameof(MmioStatus.Misaligned));
        records[1].Value("Write").ShouldBe(bool.TrueString);
    }

    [Fact]
    public void A_monitor_violation_is_an_error_naming_the_invariant_and_the_kernel_operation()
    {
        var logs = new Logs();
        var d = new DeviceRig(new MachineConfig { LoggerFactory = logs.Factory }).Init();
        ulong root = d.AllocTable();
        d.SetDte(0x60, DeviceRig.Dte(root, PagingMode.Level3, 6));
        d.Map4K(root, 3, 0x1000, 0x9000);
        ulong leafTable = new AmdV1Pte(d.Mem.ReadU64(new AmdV1Pte(d.Mem.ReadU64(root)).Address)).Address;
        d.Machine.Notify.SetOperation("unmap");
        d.Machine.Notify.TableFrameFreed(leafTable);
        d.Dma(0x60, 0x1000);
        var r = logs.Single(2320);
        r.Level.ShouldBe(LogLevel.Error);
        r.Value("Kind").ShouldBe(nameof(ViolationKind.WalkThroughFreedTable));
        r.Number("DeviceId").ShouldBe(0x60UL);
        r.Number("Detail").ShouldBe(leafTable);
        r.Value("Operation").ShouldBe("unmap");
    }

    [Fact]
    public void The_machines_factory_reaches_the_snp_cpu_and_the_psp()
    {
        var logs = new Logs();
        var m = new Machine(new MachineConfig { LoggerFactory = logs.Factory });
        m.Cpu.Rmpupdate(0x1000, new RmpUpdateArgs(0, Assigned: true, PageSize2M: true, Immutable: false, Asid: 1))
            .ShouldBe(RmpUpdateResult.Input);
        logs.Single(2100).Level.ShouldBe(LogLevel.Warning);
        m.Firmware.LoggerFactory.ShouldBeSameAs(logs.Factory);
    }

    [Fact]
    public void A_master_abort_is_a_warning()
    {
        var logs = new Logs();
        var m = new Machine(new MachineConfig { LoggerFactory = logs.Factory });
        var agent = m.AddDmaAgent(new DmaAgentConfig(3, [new DmaOp(IPhysicalMemory.Limit - 8, 16, true)]));
        m.Scheduler.RunUntilIdle();
        agent.Records.Single().Outcome.ShouldBe(DmaOutcome.Aborted);
        var r = logs.Single(2340);
        r.Level.ShouldBe(LogLevel.Warning);
        r.Number("DeviceId").ShouldBe(3UL);
        r.Number("Iova").ShouldBe(IPhysicalMemory.Limit, "the second 8 bytes");
        r.Number("Spa").ShouldBe(IPhysicalMemory.Limit);
    }
}
