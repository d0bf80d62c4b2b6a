using Driver.Hw.AmdIommu;

namespace Driver.Platform.Tests;

public class EventLogTests
{
    private static void Fault(DeviceRig d, int count)
    {
        for (int i = 0; i < count; i++)
            d.Machine.Iommu.Translate(1, (ulong)i << 12, false);
    }

    private static DeviceRig WithFaultingDevice(byte length = 8)
    {
        var d = new DeviceRig().Init(length);
        d.SetDte(1, DeviceRig.Dte(d.AllocTable(), PagingMode.Level3, 9));
        return d;
    }

    [Fact]
    public void Events_go_to_tail_and_set_event_log_int()
    {
        var d = WithFaultingDevice();
        Fault(d, 3);
        new RingPointerRegister(d.Read64(AmdIommuMmio.EventLogTailOffset)).Offset.ShouldBe((ushort)3);
        d.Status.EventLogInt.ShouldBeTrue();
        var events = d.DrainEvents();
        events.Select(e => new IoPageFaultEvent([e.W0, e.W1]).Address).ShouldBe([0UL, 0x1000UL, 0x2000UL]);
        d.Machine.Iommu.EventsLogged.ShouldBe(3);
        d.Machine.Iommu.InterruptCount.ShouldBe(0);
    }

    [Fact]
    public void Event_interrupt_fires_when_enabled()
    {
        var d = WithFaultingDevice();
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithEventIntEn(true).Raw);
        Fault(d, 2);
        d.Machine.Iommu.InterruptCount.ShouldBe(2);
    }

    [Fact]
    public void A_disabled_log_drops_events()
    {
        var d = WithFaultingDevice();
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithEventLogEn(false).Raw);
        d.Status.EventLogRun.ShouldBeFalse();
        Fault(d, 2);
        d.DrainEvents().ShouldBeEmpty();
        d.Machine.Iommu.EventsDropped.ShouldBe(2);
    }

    [Fact]
    public void A_full_log_overflows_stops_and_restarts_the_linux_way()
    {
        var d = WithFaultingDevice(length: 8);
        Fault(d, 255);
        d.Status.EventOverflow.ShouldBeFalse();
        d.Machine.Iommu.EventsLogged.ShouldBe(255);
        Fault(d, 1);
        var status = d.Status;
        status.EventOverflow.ShouldBeTrue();
        status.EventLogRun.ShouldBeFalse();
        d.Machine.Iommu.EventsDropped.ShouldBe(1);

        d.DrainEvents().Count.ShouldBe(255);
        Fault(d, 1);
        d.DrainEvents().ShouldBeEmpty();

        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithEventLogEn(false).WithEventIntEn(false).Raw);
        d.Write64(AmdIommuMmio.StatusOffset, new StatusRegister(0).WithEventOverflow(true).Raw);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithEventLogEn(true).WithEventIntEn(true).Raw);
        d.Status.EventLogRun.ShouldBeTrue();
        Fault(d, 1);
        d.DrainEvents().Count.ShouldBe(1);
        d.Machine.Iommu.InterruptCount.ShouldBe(1);
    }

    [Fact]
    public void Rings_running_off_the_address_space_fail_as_hardware_errors()
    {
        var d = WithFaultingDevice(length: 9);
        ulong top = 0xF_FFFF_FFFF_F000;
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(false).Raw);
        d.Write64(AmdIommuMmio.CommandBufferBaseOffset, new CommandBufferBaseRegister(0).WithBase(top).WithLength(9).Raw);
        d.Write64(AmdIommuMmio.CommandBufferTailOffset, new RingPointerRegister(0).WithOffset(257).Raw);
        d.Write64(AmdIommuMmio.CommandBufferHeadOffset, new RingPointerRegister(0).WithOffset(256).Raw);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(true).Raw);
        d.Machine.Scheduler.RunUntilIdle();
        var ev = d.DrainEvents().Single();
        DeviceRig.Code(ev).ShouldBe(EventCode.CommandHardwareError);
        new CommandHardwareErrorEvent([ev.W0, ev.W1]).Address.ShouldBe(top + 256 * 16);
        d.Status.CmdBufRun.ShouldBeFalse();

        d.Write64(AmdIommuMmio.EventLogBaseOffset, new EventLogBaseRegister(0).WithBase(top).WithLength(9).Raw);
        d.Write64(AmdIommuMmio.EventLogTailOffset, new RingPointerRegister(0).WithOffset(256).Raw);
        long dropped = d.Machine.Iommu.EventsDropped;
        Fault(d, 1);
        d.Machine.Iommu.EventsDropped.ShouldBe(dropped + 1);
        d.Read64(AmdIommuMmio.EventLogTailOffset).ShouldBe(new RingPointerRegister(0).WithOffset(256).Raw);
    }

    [Fact]
    public void Overflow_raises_the_interrupt_when_enabled()
    {
        var d = WithFaultingDevice(length: 1);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithEventIntEn(true).Raw);
        Fault(d, 2);
        d.Status.EventOverflow.ShouldBeTrue();
        d.Machine.Iommu.InterruptCount.ShouldBe(2);
    }
}
