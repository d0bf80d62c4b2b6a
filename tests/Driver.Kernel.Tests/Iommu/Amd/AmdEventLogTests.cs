using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>The event log drained on the interrupt: decoding, logging, subscribers, overflow.</summary>
public sealed class AmdEventLogTests
{
    private const ushort Device = 0x31;

    [Fact]
    public void AnIoPageFault_ReachesSubscribersAndTheLog_WithItsDeviceAddressAndFlags()
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(Device).ShouldBe(Errno.Ok);
        var received = new List<AmdIommuEvent>();
        rig.Driver.EventLog.EventReceived += received.Add;

        rig.Machine.Iommu.Translate(Device, 0xDEAD_B000, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
        rig.Driver.Registers.Status.EventLogInt.ShouldBeTrue();
        rig.Driver.EventLog.HandleInterrupt().ShouldBe(1);

        var ev = received.ShouldHaveSingleItem();
        ev.Code.ShouldBe(EventCode.IoPageFault);
        ev.DeviceId.ShouldBe(Device);
        ev.Address.ShouldBe(0xDEAD_B000UL);
        ev.DomainOrPasid.ShouldBe(domain.DomainId);
        ev.Write.ShouldBeTrue();
        rig.Driver.Registers.Status.EventLogInt.ShouldBeFalse("the handler cleared the w1c cause");
        rig.Driver.Registers.ReadRingIndex(AmdIommuMmio.EventLogHeadOffset)
            .ShouldBe(rig.Driver.Registers.ReadRingIndex(AmdIommuMmio.EventLogTailOffset));

        var record = rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3142);
        record.Level.ShouldBe(LogLevel.Error);
        record.GetStructuredStateValue("DeviceId").ShouldBe(Device.ToString());
        record.GetStructuredStateValue("Address").ShouldBe(0xDEAD_B000UL.ToString());
        record.Message.ShouldContain("IoPageFaultDetailEvent {");
        rig.Driver.EventLog.HandleInterrupt().ShouldBe(0);
    }

    [Fact]
    public void AnIllegalCommand_IsLoggedWithTheCommandsAddress()
    {
        var rig = new AmdRig();
        uint tail = rig.Driver.Registers.ReadRingIndex(AmdIommuMmio.CommandBufferTailOffset);
        rig.Driver.CommandQueue.Post(new AmdCommand(0, 0)).ShouldBe(Errno.Ok);
        var received = new List<AmdIommuEvent>();
        rig.Driver.EventLog.EventReceived += received.Add;
        rig.Driver.EventLog.HandleInterrupt().ShouldBe(1);
        received.Single().Code.ShouldBe(EventCode.IllegalCommandError);
        received.Single().Address.ShouldBe(rig.Driver.CommandQueue.RingPa + (tail * 16UL));
        rig.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3145);
    }

    [Fact]
    public void Overflow_IsRestartedAsLinuxDoes_AndLaterEventsArriveAgain()
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(Device).ShouldBe(Errno.Ok);
        for (int i = 0; i < 300; i++)
            rig.Machine.Iommu.Translate(Device, 0x1000UL * (ulong)(i + 1), write: false);
        rig.Driver.Registers.Status.EventOverflow.ShouldBeTrue();
        rig.Machine.Iommu.EventsDropped.ShouldBeGreaterThan(0);

        int read = rig.Driver.EventLog.HandleInterrupt();
        read.ShouldBeGreaterThanOrEqualTo(255);
        read.ShouldBeLessThan(300);
        rig.Driver.EventLog.Overflows.ShouldBe(1);
        var status = rig.Driver.Registers.Status;
        status.EventOverflow.ShouldBeFalse();
        status.EventLogRun.ShouldBeTrue();
        rig.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3140);

        rig.Machine.Iommu.Translate(Device, 0xF000_0000, write: false);
        var received = new List<AmdIommuEvent>();
        rig.Driver.EventLog.EventReceived += received.Add;
        rig.Driver.EventLog.HandleInterrupt().ShouldBe(1);
        received.Single().Address.ShouldBe(0xF000_0000UL);
    }

    [Fact]
    public void EveryEventCode_PrintsThroughItsLayout()
    {
        foreach (EventCode code in Enum.GetValues<EventCode>())
        {
            var header = default(EventHeader).WithEventCode(code).WithDeviceId(0x12);
            var ev = new AmdIommuEvent(header.GetWord(0), 0x5000);
            ev.Code.ShouldBe(code);
            ev.ToString().ShouldContain("Event");
            ev.ToString().ShouldContain(code == EventCode.InvalidPprRequest ? "EventHeader" : "0x5000");
        }
    }

    [Fact]
    public void ADmaAgentsFault_ReachesASubscriber_ThroughTheMachinesInterrupt()
    {
        var machine = new Machine();
        var allocator = new FrameAllocator(machine.KernelMemory, AmdRig.ZoneBase, AmdRig.ZoneSize);
        var driver = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, allocator,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, Irq = Machine.IommuIrq }, interrupts: machine.Interrupts);
        driver.Init().ShouldBe(Errno.Ok);
        AmdProtectionDomain.Alloc(driver, out var domain).ShouldBe(Errno.Ok);
        domain!.Attach(Device).ShouldBe(Errno.Ok);
        domain.Table.MapPages(0x1000, 0x40_0000_0000, 0x1000, 1, IommuProt.Read | IommuProt.Write, out _).ShouldBe(Errno.Ok);
        var received = new List<AmdIommuEvent>();
        driver.EventLog.EventReceived += received.Add;

        var agent = machine.AddDmaAgent(new DmaAgentConfig(Device, [new DmaOp(0x1000, 8, Write: true), new DmaOp(0x5000, 8, Write: true)])
        {
            StartNs = machine.Clock.NowNs + 100,
            IntervalNs = 100,
            Transactions = 2,
        });
        machine.Clock.Delay(1_000);

        agent.Records.Select(r => r.Outcome).ShouldBe([DmaOutcome.Completed, DmaOutcome.Faulted]);
        var ev = received.ShouldHaveSingleItem();
        ev.Code.ShouldBe(EventCode.IoPageFault);
        ev.DeviceId.ShouldBe(Device);
        ev.Address.ShouldBe(0x5000UL);
        ev.Write.ShouldBeTrue();
        machine.Interrupts.Delivered.ShouldBe(1);
        machine.Monitor.Violations.ShouldBeEmpty();
    }
}
