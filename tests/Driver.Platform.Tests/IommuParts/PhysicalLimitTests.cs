using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Iommu;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>
/// The error contract at the physical limit: every address the IOMMU reads out of a register or
/// memory beyond it is the hardware's event, never an exception (a 40-bit machine makes them reachable).
/// </summary>
public class PhysicalLimitTests
{
    private const ushort Dev = 0x44;
    private const ushort Domain = 4;
    private const ulong Beyond = 1UL << 40;

    private static DeviceRig Machine() =>
        new DeviceRig(new MachineConfig { Iommu = new IommuConfig { PhysicalAddressBits = 40 } }).Init();

    [Theory]
    [InlineData(31)]
    [InlineData(53)]
    public void The_limit_is_32_to_52_bits(int bits) =>
        Should.Throw<ArgumentOutOfRangeException>(() => new Machine(new MachineConfig { Iommu = new IommuConfig { PhysicalAddressBits = bits } }));

    [Fact]
    public void A_dte_root_beyond_the_limit_is_a_page_table_hardware_error()
    {
        var d = Machine();
        d.SetDte(Dev, DeviceRig.Dte(Beyond, PagingMode.Level2, Domain));
        var r = d.Dma(Dev, 0x20_1000, write: true);
        r.Status.ShouldBe(TranslationStatus.PageTableError);
        var ev = new PageTabHardwareErrorEvent([r.Result.EventWord0, r.Result.EventWord1]);
        ev.EventCode.ShouldBe(EventCode.PageTabHardwareError);
        ev.DeviceId.ShouldBe(Dev);
        ev.DomainOrPasid.ShouldBe(Domain);
        ev.Write.ShouldBeTrue();
        ev.Address.ShouldBe(Beyond + 8, "the entry of level 2 for IOVA 2 MiB");
        d.DrainEvents().ShouldBe([(r.Result.EventWord0, r.Result.EventWord1)]);
    }

    [Fact]
    public void A_pde_pointing_beyond_the_limit_is_a_page_table_hardware_error_cached_or_not()
    {
        var d = Machine();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        d.Mem.WriteU64(root, DeviceRig.Pte(Beyond - 0x1000, 2).Raw);
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.IoPageFault, "the last table below the limit is read (empty)");
        d.Mem.WriteU64(root, DeviceRig.Pte(Beyond, 2).Raw);
        d.Submit(DeviceRig.InvalidateAllPages(Domain));
        d.RunCommands().ShouldBeTrue();
        for (int i = 0; i < 2; i++)
        {
            // The second walk resumes from the cached PDE and meets the same pointer.
            var r = d.Dma(Dev, 0x1000);
            r.Status.ShouldBe(TranslationStatus.PageTableError);
            new PageTabHardwareErrorEvent([r.Result.EventWord0, r.Result.EventWord1]).Address.ShouldBe(Beyond);
        }
        d.Machine.Iommu.PdeCacheCount.ShouldBe(1);
        d.DrainEvents().Count.ShouldBe(3);
    }

    [Fact]
    public void A_device_table_beyond_the_limit_is_a_device_table_hardware_error()
    {
        var d = Machine();
        d.Write64(AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(Beyond - 0x1000).WithSize(1).Raw);
        d.Dma(127, 0).Status.ShouldBe(TranslationStatus.Ok, "the last entry below the limit is read (zeros: passthrough)");
        var r = d.Dma(128, 0, write: true);
        r.Status.ShouldBe(TranslationStatus.DeviceTableError);
        var ev = new DevTabHardwareErrorEvent([r.Result.EventWord0, r.Result.EventWord1]);
        ev.DeviceId.ShouldBe((ushort)128);
        ev.Write.ShouldBeTrue();
        ev.Address.ShouldBe(Beyond);
    }

    [Fact]
    public void A_command_ring_beyond_the_limit_is_a_command_hardware_error_and_stops()
    {
        var d = Machine();
        d.Write64(AmdIommuMmio.CommandBufferBaseOffset, new CommandBufferBaseRegister(0).WithBase(Beyond).WithLength(8).Raw);
        d.Write64(AmdIommuMmio.CommandBufferTailOffset, new RingPointerRegister(0).WithOffset(1).Raw);
        d.Machine.Scheduler.RunUntilIdle();
        var ev = d.DrainEvents().Single();
        DeviceRig.Code(ev).ShouldBe(EventCode.CommandHardwareError);
        new CommandHardwareErrorEvent([ev.W0, ev.W1]).Address.ShouldBe(Beyond);
        d.Status.CmdBufRun.ShouldBeFalse();
        d.Machine.Iommu.CommandsExecuted.ShouldBe(0);
    }

    [Fact]
    public void A_completion_wait_store_beyond_the_limit_is_a_command_hardware_error_and_stops_on_that_command()
    {
        var d = Machine();
        d.Submit(DeviceRig.CompletionWait(Beyond, 7), DeviceRig.CompletionWait(DeviceRig.Semaphore, 9));
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(0UL, "the processor stopped before the second command");
        var ev = d.DrainEvents().Single();
        new CommandHardwareErrorEvent([ev.W0, ev.W1]).Address.ShouldBe(Beyond);
        new RingPointerRegister(d.Read64(AmdIommuMmio.CommandBufferHeadOffset)).Offset.ShouldBe((ushort)0);

        // Restarting re-runs the offending command: the driver resets the ring as Linux does.
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(false).Raw);
        d.Write64(AmdIommuMmio.CommandBufferBaseOffset, new CommandBufferBaseRegister(0).WithBase(DeviceRig.CommandRing).WithLength(DeviceRig.CommandRingLength).Raw);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(true).Raw);
        d.RunCommands().ShouldBeTrue();
    }

    [Fact]
    public void An_event_log_beyond_the_limit_drops_events_and_nothing_throws()
    {
        var d = Machine();
        d.Write64(AmdIommuMmio.EventLogBaseOffset, new EventLogBaseRegister(0).WithBase(Beyond).WithLength(8).Raw);
        d.SetDte(Dev, DeviceRig.Dte(d.AllocTable(), PagingMode.Level3, Domain));
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.IoPageFault);
        d.Machine.Iommu.EventsDropped.ShouldBe(1);
        d.Machine.Iommu.EventsLogged.ShouldBe(0);
        d.Read64(AmdIommuMmio.EventLogTailOffset).ShouldBe(0UL);
    }

    [Fact]
    public void A_dma_agent_master_aborts_beyond_the_iommu_limit()
    {
        var d = Machine();
        d.Write64(AmdIommuMmio.ControlOffset, 0);
        var agent = d.Machine.AddDmaAgent(new Dma.DmaAgentConfig(1, [new Dma.DmaOp(Beyond - 8, 8, true), new Dma.DmaOp(Beyond, 8, true)]));
        d.Machine.Scheduler.RunUntilIdle();
        agent.Records.Select(r => r.Outcome).ShouldBe([Dma.DmaOutcome.Completed, Dma.DmaOutcome.Aborted]);
        d.Machine.Memory.ReadU64(Beyond).ShouldBe(0UL);
        IPhysicalMemory.Limit.ShouldBeGreaterThan(Beyond);
    }
}
