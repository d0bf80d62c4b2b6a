using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Mm;
using Driver.Platform;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>Init's sizes, its register order, and how it undoes itself when a step fails.</summary>
public sealed class AmdInitTests
{
    private const ulong ZoneBase = 0x4000_0000;

    private static (AmdIommuDriver Driver, FakeAmdRegisters Mmio, FrameAllocator Allocator, Mock<IInterruptController> Irqs, FakeLogCollector Logs) OnFakeRegisters()
    {
        var mmio = new FakeAmdRegisters();
        mmio.Values[AmdIommuMmio.ExtendedFeatureOffset] = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level4).Raw;
        // Whatever a previous owner left in the event log pointers.
        mmio.Values[AmdIommuMmio.EventLogHeadOffset] = new RingPointerRegister(0).WithOffset(5).Raw;
        mmio.Values[AmdIommuMmio.EventLogTailOffset] = new RingPointerRegister(0).WithOffset(9).Raw;
        var memory = new PhysicalMemory();
        var allocator = new FrameAllocator(memory, ZoneBase, 64 << 12);
        var irqs = new Mock<IInterruptController>();
        irqs.Setup(i => i.RequestIrq(It.IsAny<int>(), It.IsAny<Action>())).Returns(true);
        var logs = new FakeLogCollector();
        var driver = new AmdIommuDriver(mmio, memory, new Mock<IClock>().Object, allocator,
            new AmdIommuConfig { MmioBase = FakeAmdRegisters.Base }, new LoggerFactory([new FakeLoggerProvider(logs)]), irqs.Object);
        return (driver, mmio, allocator, irqs, logs);
    }

    [Fact]
    public void AFirstInvalidationThatDoesNotComplete_UndoesTheInit()
    {
        // The command processor never runs (Status.CmdBufRun stays clear): the first COMPLETION_WAIT fails.
        var (driver, mmio, allocator, irqs, logs) = OnFakeRegisters();
        driver.Init().ShouldBe(Errno.EIO);
        driver.Initialized.ShouldBeFalse();
        allocator.FramesInUse.ShouldBe(0);
        mmio.Values[AmdIommuMmio.ControlOffset].ShouldBe(0UL, "the IOMMU is disabled again");
        irqs.Verify(i => i.FreeIrq(24), Times.Once());
        logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3112);

        // Nothing is left that a second attempt could free twice.
        driver.Init().ShouldBe(Errno.EIO);
        allocator.FramesInUse.ShouldBe(0);
        irqs.Verify(i => i.FreeIrq(24), Times.Exactly(2));
    }

    [Fact]
    public void TheEventLogPointers_AreZeroedAfterItsBaseAndBeforeItIsEnabled()
    {
        // Linux iommu_enable_event_buffer: base, head = tail = 0, then EventLogEn.
        var (driver, mmio, _, _, _) = OnFakeRegisters();
        driver.Init();
        var writes = mmio.Writes;
        int logBase = writes.FindIndex(w => w.Offset == AmdIommuMmio.EventLogBaseOffset);
        int enable = writes.FindIndex(w => w.Offset == AmdIommuMmio.ControlOffset && new ControlRegister(w.Value).EventLogEn);
        int head = writes.FindIndex(w => w.Offset == AmdIommuMmio.EventLogHeadOffset);
        int tail = writes.FindIndex(w => w.Offset == AmdIommuMmio.EventLogTailOffset);
        logBase.ShouldBeGreaterThanOrEqualTo(0);
        head.ShouldBeGreaterThan(logBase);
        tail.ShouldBeGreaterThan(logBase);
        enable.ShouldBeGreaterThan(Math.Max(head, tail));
        writes[head].Value.ShouldBe(0UL);
        writes[tail].Value.ShouldBe(0UL);
    }

    [Theory]
    [InlineData(1, "the device table")]
    [InlineData(3, "the command buffer")]
    [InlineData(4, "the event log")]
    [InlineData(5, "the completion-wait semaphore")]
    public void OutOfMemory_NamesWhatCouldNotBeAllocated_AndCanBeRetried(int frames, string what)
    {
        var rig = new AmdRig(zoneSize: (ulong)frames << 12, init: false);
        rig.Driver.Init().ShouldBe(Errno.ENOMEM);
        rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3103).Message.ShouldContain(what);
        rig.Driver.Init().ShouldBe(Errno.ENOMEM, "a second attempt frees only what it allocated itself");
        rig.Allocator.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void ALargerEventLog_GetsAllItsPages()
    {
        // 2^12 entries of 16 bytes: 16 pages, beside the device table (2), the ring (2) and the semaphore (1).
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, EventLogLengthLg2 = 12 });
        rig.Driver.EventLog.Entries.ShouldBe(4096u);
        rig.Allocator.FramesInUse.ShouldBe(21);
        new EventLogBaseRegister(rig.Driver.Registers.Read(AmdIommuMmio.EventLogBaseOffset)).Length.ShouldBe((byte)12);
        rig.Machine.Iommu.Translate(0x30, 0x1000, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);
        rig.Driver.EventLog.HandleInterrupt().ShouldBe(1);
    }

    [Fact]
    public void TheEnabledLine_NamesTheLastDeviceIdOfTheTable()
    {
        var rig = new AmdRig();
        rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3100).Message.ShouldContain("device table for DeviceIDs 0..0x00ff");
    }
}
