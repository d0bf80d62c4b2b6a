using Driver.Hw.AmdIommu;

namespace Driver.Platform.Tests;

public class CommandProcessorTests
{
    [Fact]
    public void Completion_wait_stores_after_simulated_time_not_at_the_doorbell()
    {
        var d = new DeviceRig().Init();
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 0x1234_5678_9ABC_DEF0));
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(0UL);
        long before = d.Machine.SimClock.NowNs;
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(0x1234_5678_9ABC_DEF0UL);
        (d.Machine.SimClock.NowNs - before).ShouldBe(d.Machine.Costs.IommuCommandNs + d.Machine.Costs.IommuMemoryAccessNs);
        new RingPointerRegister(d.Read64(AmdIommuMmio.CommandBufferHeadOffset)).Offset.ShouldBe((ushort)1);
        d.Machine.Iommu.CommandsExecuted.ShouldBe(1);
        d.Status.ComWaitInt.ShouldBeFalse();
    }

    [Fact]
    public void Completion_wait_interrupt_sets_status_and_interrupts_only_when_enabled()
    {
        var d = new DeviceRig().Init();
        d.Submit(DeviceRig.CompletionWait(0, 0, store: false, interrupt: true));
        d.Machine.Scheduler.RunUntilIdle();
        d.Status.ComWaitInt.ShouldBeTrue();
        d.Machine.Iommu.InterruptCount.ShouldBe(0);
        int raised = 0;
        d.Machine.Iommu.Interrupt += () => raised++;
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithComWaitIntEn(true).Raw);
        d.Submit(DeviceRig.CompletionWait(0, 0, store: false, interrupt: true));
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Iommu.InterruptCount.ShouldBe(1);
        raised.ShouldBe(1);
    }

    [Fact]
    public void Commands_wait_for_iommu_and_command_buffer_enable()
    {
        var d = new DeviceRig().Init(enable: false);
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 7));
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(0UL);
        d.Write64(AmdIommuMmio.ControlOffset, new ControlRegister(0).WithCmdBufEn(true).Raw);
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(0UL);
        d.Write64(AmdIommuMmio.ControlOffset, new ControlRegister(0).WithCmdBufEn(true).WithIommuEn(true).Raw);
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(7UL);
    }

    [Fact]
    public void Disabling_the_command_buffer_midway_stops_fetching()
    {
        var d = new DeviceRig().Init();
        var control = d.Control;
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1), DeviceRig.CompletionWait(DeviceRig.Semaphore, 2),
            DeviceRig.CompletionWait(DeviceRig.Semaphore, 3));
        d.Machine.Scheduler.RunUntilIdle(d.Machine.SimClock.NowNs + 250);
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(1UL);
        // The disabling write itself takes an MMIO access, during which the second command completes.
        d.Write64(AmdIommuMmio.ControlOffset, control.WithCmdBufEn(false).Raw);
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(2UL);
        d.Status.CmdBufRun.ShouldBeFalse();
    }

    [Fact]
    public void The_ring_wraps()
    {
        var d = new DeviceRig().Init();
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(false).Raw);
        d.Write64(AmdIommuMmio.CommandBufferTailOffset, new RingPointerRegister(0).WithOffset(511).Raw);
        d.Write64(AmdIommuMmio.CommandBufferHeadOffset, new RingPointerRegister(0).WithOffset(511).Raw);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(true).Raw);
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1));
        d.RunCommands().ShouldBeTrue();
        d.Mem.ReadU64(DeviceRig.Semaphore).ShouldBe(1UL, "the last entry of the ring ran");
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 2));
        d.RunCommands().ShouldBeTrue();
        d.Mem.ReadU64(DeviceRig.Semaphore).ShouldBe(2UL, "then the first");
        new RingPointerRegister(d.Read64(AmdIommuMmio.CommandBufferHeadOffset)).Offset.ShouldBe((ushort)1);
    }

    public static TheoryData<ulong, ulong> IllegalCommands => new()
    {
        { 0x0UL, 0x0UL },
        { 0x9UL << 60, 0 },
        { 0xFUL << 60, 0 },
        { (1UL << 60) | (1UL << 52), 0 },
        { (2UL << 60) | (1UL << 16), 0 },
        { 2UL << 60, 1 },
        { (3UL << 60) | (1UL << 20), 0 },
        { (3UL << 60) | (1UL << 48), 0 },
        { 3UL << 60, 1UL << 3 }, // bit 67: reserved
        { 4UL << 60, 1UL << 1 }, // bit 65: reserved
        { 4UL << 60, 1UL << 6 }, // bit 70: reserved
        { (5UL << 60) | (1UL << 16), 0 },
        { 5UL << 60, 1 },
        { (8UL << 60) | 1, 0 },
        { 8UL << 60, 1 },
        { 6UL << 60, 0 },
        { 7UL << 60, 0 },
    };

    [Theory]
    [MemberData(nameof(IllegalCommands))]
    public void An_illegal_command_logs_its_address_and_stops_the_processor(ulong w0, ulong w1)
    {
        var d = new DeviceRig().Init();
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1), (w0, w1), DeviceRig.CompletionWait(DeviceRig.Semaphore, 2));
        d.Machine.Scheduler.RunUntilIdle();
        d.Machine.Memory.ReadU64(DeviceRig.Semaphore).ShouldBe(1UL);
        var events = d.DrainEvents();
        events.Count.ShouldBe(1);
        var ev = new IllegalCommandErrorEvent([events[0].W0, events[0].W1]);
        ev.EventCode.ShouldBe(EventCode.IllegalCommandError);
        ev.Address.ShouldBe(DeviceRig.CommandRing + 16);
        d.Status.CmdBufRun.ShouldBeFalse();
        new RingPointerRegister(d.Read64(AmdIommuMmio.CommandBufferHeadOffset)).Offset.ShouldBe((ushort)1);

        // Linux's recovery: disable, reset the pointers through the base, re-enable.
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(false).Raw);
        d.Write64(AmdIommuMmio.CommandBufferBaseOffset, new CommandBufferBaseRegister(0).WithBase(DeviceRig.CommandRing).WithLength(DeviceRig.CommandRingLength).Raw);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(true).Raw);
        d.Status.CmdBufRun.ShouldBeTrue();
        d.RunCommands().ShouldBeTrue();
    }

    [Fact]
    public void Invalidate_all_needs_efr_ia()
    {
        var d = new DeviceRig(new MachineConfig { Iommu = new Iommu.IommuConfig { Efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level4) } }).Init();
        d.Submit(DeviceRig.InvalidateIommuAll());
        d.Machine.Scheduler.RunUntilIdle();
        DeviceRig.Code(d.DrainEvents().Single()).ShouldBe(EventCode.IllegalCommandError);
    }

    [Fact]
    public void Iotlb_and_interrupt_table_invalidations_are_accepted()
    {
        var d = new DeviceRig().Init();
        var iotlb = default(InvalidateIotlbPagesCommand).WithOpcode(CommandOpcode.InvalidateIotlbPages).WithDeviceId(3).WithSize(true);
        var irt = default(InvalidateInterruptTableCommand).WithOpcode(CommandOpcode.InvalidateInterruptTable).WithDeviceId(3);
        d.Submit((iotlb.GetWord(0), iotlb.GetWord(1)), (irt.GetWord(0), irt.GetWord(1)));
        d.RunCommands().ShouldBeTrue();
        d.DrainEvents().ShouldBeEmpty();
        d.Machine.Iommu.CommandsExecuted.ShouldBe(2);
    }
}
