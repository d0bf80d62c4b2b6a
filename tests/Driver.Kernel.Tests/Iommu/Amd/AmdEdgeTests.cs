using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform;
using Driver.Platform.Iommu;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>The AMD driver's refusals and failure paths, its ordered DTE update and its event-log restart, against mocks and the machine.</summary>
public sealed class AmdEdgeTests
{
    private const IommuProt ReadWrite = IommuProt.Read | IommuProt.Write;

    private static AmdEventLog EventLogOn(FakeAmdRegisters mmio, IPhysicalMemory memory) =>
        new(new AmdIommuRegisters(mmio, FakeAmdRegisters.Base), memory, 0x10_0000, 8, NullLogger.Instance);

    [Fact]
    public void NullArguments_AreBugs()
    {
        var rig = new AmdRig();
        var m = rig.Machine;
        var registers = rig.Driver.Registers;
        Should.Throw<ArgumentNullException>(() => new AmdIommuDriver(null!, m.KernelMemory, m.Clock, rig.Allocator));
        Should.Throw<ArgumentNullException>(() => new AmdIommuDriver(m.Mmio, null!, m.Clock, rig.Allocator));
        Should.Throw<ArgumentNullException>(() => new AmdIommuDriver(m.Mmio, m.KernelMemory, null!, rig.Allocator));
        Should.Throw<ArgumentNullException>(() => new AmdIommuDriver(m.Mmio, m.KernelMemory, m.Clock, null!));
        Should.Throw<ArgumentNullException>(() => new AmdIommuRegisters(null!, 0));
        Should.Throw<ArgumentNullException>(() => new AmdEventLog(null!, m.KernelMemory, 0, 8, NullLogger.Instance));
        Should.Throw<ArgumentNullException>(() => new AmdEventLog(registers, null!, 0, 8, NullLogger.Instance));
        Should.Throw<ArgumentNullException>(() => new AmdEventLog(registers, m.KernelMemory, 0, 8, null!));
        Should.Throw<ArgumentNullException>(() => new CommandQueue(null!, m.KernelMemory, m.Clock, 0, 9, 0, NullLogger.Instance));
        Should.Throw<ArgumentNullException>(() => new CommandQueue(registers, null!, m.Clock, 0, 9, 0, NullLogger.Instance));
        Should.Throw<ArgumentNullException>(() => new CommandQueue(registers, m.KernelMemory, null!, 0, 9, 0, NullLogger.Instance));
        Should.Throw<ArgumentNullException>(() => new CommandQueue(registers, m.KernelMemory, m.Clock, 0, 9, 0, null!));
        Should.Throw<ArgumentNullException>(() => new DeviceTable(null!, 0, 1));
        Should.Throw<ArgumentNullException>(() => AmdProtectionDomain.Alloc(null!, out _));
        Should.Throw<ArgumentNullException>(() => CommandQueueExtensions.PostAndWait(null!, AmdCommand.InvalidateIommuAll()));
    }

    [Theory]
    [InlineData(7, false)]
    [InlineData(8, true)]
    [InlineData(15, true)]
    [InlineData(16, false)]
    public void TheCommandRing_Holds2To8UpTo2To15Entries(int lengthLg2, bool fits)
    {
        var rig = new AmdRig();
        var m = rig.Machine;
        CommandQueue Make() => new(rig.Driver.Registers, m.KernelMemory, m.Clock, 0, lengthLg2, 0, NullLogger.Instance);
        if (fits)
            Make().LengthLg2.ShouldBe(lengthLg2);
        else
            Should.Throw<ArgumentOutOfRangeException>(Make);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(512, true)]
    [InlineData(513, false)]
    public void TheDeviceTable_IsOneTo512Pages(int pages, bool fits)
    {
        var memory = new Mock<IPhysicalMemory>().Object;
        if (fits)
            new DeviceTable(memory, 0, pages).Entries.ShouldBe(pages * 128);
        else
            Should.Throw<ArgumentOutOfRangeException>(() => new DeviceTable(memory, 0, pages));
        Should.Throw<ArgumentOutOfRangeException>(() => new DeviceTable(memory, 0, 1).Read(128));
    }

    [Fact]
    public void TheDte_IsWrittenSoThatTheIommuNeverSeesHalfAnEntry()
    {
        var words = new Dictionary<ulong, ulong>();
        var writes = new List<ulong>();
        var memory = new Mock<IPhysicalMemory>();
        memory.Setup(x => x.ReadU64(It.IsAny<ulong>())).Returns((ulong pa) => words.GetValueOrDefault(pa));
        memory.Setup(x => x.WriteU64(It.IsAny<ulong>(), It.IsAny<ulong>())).Callback((ulong pa, ulong v) =>
        {
            words[pa] = v;
            writes.Add(pa);
        });
        var table = new DeviceTable(memory.Object, 0x1000, 1);
        var entry = AmdIommuDriver.BlockedEntry.WithMode(PagingMode.Level3).WithHostPageTableRoot(0x5000).WithDomainId(7);

        table.Write(2, entry);
        writes.ShouldBe([0x1048UL, 0x1050, 0x1058, 0x1040], "an invalid entry: the upper words, then V in word 0");
        table.Read(2).ShouldBe(entry);

        writes.Clear();
        var moved = entry.WithDomainId(8);
        table.Write(2, moved);
        writes.ShouldBe([0x1040UL, 0x1048, 0x1050, 0x1058, 0x1040], "a valid entry: TV off first, the upper words, then word 0");
        table.Read(2).ShouldBe(moved);

        writes.Clear();
        table.Write(2, default);
        writes.ShouldBe([0x1040UL, 0x1048, 0x1050, 0x1058], "to invalid: V off first");
        table.Read(2).ShouldBe(default(AmdDte));
    }

    [Fact]
    public void AValidToValidUpdate_PassesThroughAnEntryWithoutTranslation()
    {
        var seen = new List<AmdDte>();
        var words = new Dictionary<ulong, ulong>();
        var memory = new Mock<IPhysicalMemory>();
        memory.Setup(x => x.ReadU64(It.IsAny<ulong>())).Returns((ulong pa) => words.GetValueOrDefault(pa));
        memory.Setup(x => x.WriteU64(It.IsAny<ulong>(), It.IsAny<ulong>())).Callback((ulong pa, ulong v) =>
        {
            words[pa] = v;
            seen.Add(new AmdDte([words.GetValueOrDefault(0x1000UL), words.GetValueOrDefault(0x1008UL), words.GetValueOrDefault(0x1010UL), words.GetValueOrDefault(0x1018UL)]));
        });
        var table = new DeviceTable(memory.Object, 0x1000, 1);
        table.Write(0, AmdIommuDriver.BlockedEntry.WithMode(PagingMode.Level3).WithHostPageTableRoot(0x5000).WithDomainId(7));
        seen.Clear();
        table.Write(0, AmdIommuDriver.BlockedEntry.WithMode(PagingMode.Level4).WithHostPageTableRoot(0x9000).WithDomainId(9));
        seen[0].TranslationValid.ShouldBeFalse();
        seen[0].HostPageTableRoot.ShouldBe(0x5000UL);
        seen.Take(seen.Count - 1).ShouldAllBe(d => !d.TranslationValid, "no half-written entry translates");
        seen[^1].TranslationValid.ShouldBeTrue();
    }

    [Fact]
    public void BeforeInit_TheDriverKnowsNoDevice()
    {
        var rig = new AmdRig(init: false);
        rig.Driver.ProbeDevice(1, out _).ShouldBe(Errno.ENODEV);
        rig.Driver.AttachDevice(1, IommuDomainType.Identity, null).ShouldBe(Errno.ENODEV);
        rig.Driver.AllocPagingDomain(DomainAllocFlags.None, out _).ShouldBe(Errno.ENODEV);
        Should.Throw<InvalidOperationException>(() => rig.Driver.DeviceTable);
        Should.Throw<InvalidOperationException>(() => rig.Driver.CommandQueue);
        Should.Throw<InvalidOperationException>(() => rig.Driver.EventLog);
    }

    [Fact]
    public void TheDeviceTable_CoversTheLastDeviceIdExactly()
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, LastDeviceId = 0x80 });
        rig.Driver.DeviceTable.Entries.ShouldBe(256);
        rig.Driver.ProbeDevice(0x80, out _).ShouldBe(Errno.Ok);
        rig.Driver.ProbeDevice(0x100, out _).ShouldBe(Errno.ENODEV);
    }

    [Fact]
    public void TheIdentityEntry_LetsReadsAndWritesThrough()
    {
        var rig = new AmdRig();
        rig.Driver.AttachDevice(0x21, IommuDomainType.Identity, null).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(0x21, 0x1234_5000, write: false).Spa.ShouldBe(0x1234_5000UL);
        rig.Machine.Iommu.Translate(0x21, 0x1234_5000, write: true).Spa.ShouldBe(0x1234_5000UL);
        rig.Driver.AttachDevice(0x21, IommuDomainType.Blocked, null).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(0x21, 0x1234_5000, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void ATakenLine_IsLogged()
    {
        var machine = new Machine();
        var allocator = new FrameAllocator(machine.KernelMemory, AmdRig.ZoneBase, AmdRig.ZoneSize);
        var interrupts = new Mock<IInterruptController>();
        interrupts.Setup(i => i.RequestIrq(It.IsAny<int>(), It.IsAny<Action>())).Returns(false);
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogCollector();
        var factory = new Microsoft.Extensions.Logging.LoggerFactory([new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider(logs)]);
        var driver = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, allocator,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, Irq = 30 }, factory, interrupts.Object);
        driver.Init().ShouldBe(Errno.EBUSY);
        logs.GetSnapshot().Single(r => r.Id.Id == 3104).Message.ShouldContain("30");
    }

    [Theory]
    [InlineData(false, "0x1000")]
    [InlineData(true, "0xffffffffffffffff")]
    public void SnpEnable_LogsThePageSizesLeft(bool hugePages, string sizes)
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, HugePagesWithSnp = hugePages });
        rig.Driver.SnpEnable().ShouldBe(Errno.Ok);
        rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3132).Message.ShouldContain("page sizes " + sizes);
    }

    [Fact]
    public void RegisterAccessesThatNoDeviceClaims_AreRemembered()
    {
        var machine = new Machine();
        var registers = new AmdIommuRegisters(machine.Mmio, 0x1_0000_0000);
        registers.LastError.ShouldBe(MmioStatus.Ok);
        registers.Write(AmdIommuMmio.ControlOffset, 1);
        registers.LastError.ShouldNotBe(MmioStatus.Ok);
        var fine = new AmdIommuRegisters(machine.Mmio, Machine.IommuMmioBase);
        fine.Write(AmdIommuMmio.ControlOffset, 0);
        fine.LastError.ShouldBe(MmioStatus.Ok);
    }

    [Fact]
    public void PostAndWait_DoesNotWaitForACommandThatWasNotPosted()
    {
        var queue = new Mock<ICommandQueue>(MockBehavior.Strict);
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Returns(Errno.EIO);
        queue.Object.PostAndWait(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.EIO);
        queue.Verify(q => q.CompletionWait(), Times.Never());
    }

    [Fact]
    public void AnOverflow_IsRestarted_InLinuxsOrder()
    {
        var mmio = new FakeAmdRegisters();
        var control = new ControlRegister(0).WithIommuEn(true).WithCmdBufEn(true).WithEventLogEn(true).WithEventIntEn(true);
        mmio.Values[AmdIommuMmio.ControlOffset] = control.Raw;
        mmio.Values[AmdIommuMmio.StatusOffset] = new StatusRegister(0).WithEventOverflow(true).WithEventLogInt(true).WithCmdBufRun(true).Raw;
        var log = EventLogOn(mmio, new Mock<IPhysicalMemory>().Object);
        log.HandleInterrupt().ShouldBe(0);
        log.Overflows.ShouldBe(1);
        mmio.Writes.ShouldBe([
            (AmdIommuMmio.StatusOffset, new StatusRegister(0).WithEventOverflow(true).WithEventLogInt(true).Raw),
            (AmdIommuMmio.EventLogHeadOffset, 0UL),
            (AmdIommuMmio.ControlOffset, control.WithEventLogEn(false).Raw),
            (AmdIommuMmio.ControlOffset, control.WithEventLogEn(false).WithEventIntEn(false).Raw),
            (AmdIommuMmio.StatusOffset, new StatusRegister(0).WithEventOverflow(true).Raw),
            (AmdIommuMmio.ControlOffset, control.WithEventLogEn(false).Raw),
            (AmdIommuMmio.ControlOffset, control.Raw),
        ]);
        new StatusRegister(mmio.Values[AmdIommuMmio.StatusOffset]).CmdBufRun.ShouldBeTrue("only the event causes are cleared");
    }

    [Fact]
    public void AnOverflowWhileTheLogStillRuns_IsNotRestarted()
    {
        var mmio = new FakeAmdRegisters();
        mmio.Values[AmdIommuMmio.StatusOffset] = new StatusRegister(0).WithEventOverflow(true).WithEventLogRun(true).Raw;
        var log = EventLogOn(mmio, new Mock<IPhysicalMemory>().Object);
        log.HandleInterrupt();
        log.Overflows.ShouldBe(0);
        mmio.Writes.ShouldNotContain(w => w.Offset == AmdIommuMmio.ControlOffset);
    }

    [Fact]
    public void APointerOutsideTheLog_ReadsNothing()
    {
        foreach (ulong head in new ulong[] { 0, 256 })
        {
            var mmio = new FakeAmdRegisters();
            mmio.Values[AmdIommuMmio.EventLogHeadOffset] = new RingPointerRegister(0).WithOffset((ushort)head).Raw;
            mmio.Values[AmdIommuMmio.EventLogTailOffset] = new RingPointerRegister(0).WithOffset((ushort)(head == 0 ? 256 : 3)).Raw;
            var log = EventLogOn(mmio, new Mock<IPhysicalMemory>(MockBehavior.Strict).Object);
            log.Poll().ShouldBe(0);
            mmio.Writes.ShouldBeEmpty();
        }
    }

    [Fact]
    public void EachEventCode_IsLoggedWithItsOwnId_AndCounted()
    {
        var codes = Enum.GetValues<EventCode>();
        var memory = new Driver.Platform.Memory.PhysicalMemory();
        for (int i = 0; i < codes.Length; i++)
        {
            var header = default(EventHeader).WithEventCode(codes[i]).WithDeviceId(0x12);
            memory.WriteU64(0x10_0000 + ((ulong)i * 16), header.GetWord(0));
            memory.WriteU64(0x10_0000 + ((ulong)i * 16) + 8, 0x7000);
        }
        var mmio = new FakeAmdRegisters();
        mmio.Values[AmdIommuMmio.EventLogTailOffset] = new RingPointerRegister(0).WithOffset((ushort)codes.Length).Raw;
        mmio.Values[AmdIommuMmio.StatusOffset] = new StatusRegister(0).WithEventLogInt(true).Raw;
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogCollector();
        var logger = new Microsoft.Extensions.Logging.Testing.FakeLogger(logs);
        var log = new AmdEventLog(new AmdIommuRegisters(mmio, FakeAmdRegisters.Base), memory, 0x10_0000, 8, logger);
        log.HandleInterrupt().ShouldBe(codes.Length);
        log.Poll().ShouldBe(0);
        log.EventsRead.ShouldBe(codes.Length);
        new RingPointerRegister(mmio.Values[AmdIommuMmio.EventLogHeadOffset]).Offset.ShouldBe((ushort)codes.Length);
        var expected = new Dictionary<EventCode, int>
        {
            [EventCode.IllegalDevTableEntry] = 3141,
            [EventCode.IoPageFault] = 3142,
            [EventCode.DevTabHardwareError] = 3143,
            [EventCode.PageTabHardwareError] = 3144,
            [EventCode.IllegalCommandError] = 3145,
            [EventCode.CommandHardwareError] = 3146,
            [EventCode.IotlbInvTimeout] = 3147,
            [EventCode.InvalidDeviceRequest] = 3148,
            [EventCode.RmpPageFault] = 3153,
            [EventCode.RmpHardwareError] = 3154,
        };
        logs.GetSnapshot().Select(r => r.Id.Id).ShouldBe(codes.Select(c => expected.GetValueOrDefault(c, 3159)));
    }

    [Fact]
    public void AnEventsFlags_AreBits59To48OfItsFirstWord()
    {
        var write = new AmdIommuEvent(0xF020_0000_0000_0000UL | (0x020UL << 48), 0);
        write.Flags.ShouldBe(0x020u);
        write.Write.ShouldBeTrue();
        var read = new AmdIommuEvent((0x01FUL << 48) | 0xFFFF_FFFF_FFFFUL, 0);
        read.Flags.ShouldBe(0x01Fu);
        read.Write.ShouldBeFalse();
    }

    [Fact]
    public void DomainIds_RunOutAtTheLast_AndComeBackWhenFreed()
    {
        var ids = new DomainIdAllocator();
        for (int i = 1; i < DomainIdAllocator.MaxIds; i++)
        {
            ids.Alloc(out ushort id).ShouldBe(Errno.Ok);
            id.ShouldBe((ushort)i);
        }
        ids.Alloc(out ushort none).ShouldBe(Errno.ENOSPC);
        none.ShouldBe((ushort)0);
        ids.Free(5);
        ids.InUse.ShouldBe(DomainIdAllocator.MaxIds - 2);
        ids.Alloc(out ushort again).ShouldBe(Errno.Ok);
        again.ShouldBe((ushort)5);
        Should.Throw<InvalidOperationException>(() => ids.Free(0));
        ids.Free(7);
        Should.Throw<InvalidOperationException>(() => ids.Free(7));
    }

    [Fact]
    public void AFreedDomainId_IsReusedOnlyAfterTheOthers()
    {
        var ids = new DomainIdAllocator();
        ids.Alloc(out ushort first).ShouldBe(Errno.Ok);
        ids.Free(first);
        ids.Alloc(out ushort second).ShouldBe(Errno.Ok);
        second.ShouldBe((ushort)(first + 1));
    }

    [Fact]
    public void ADomainWithoutMemoryForItsTable_GivesItsIdBack()
    {
        var rig = new AmdRig();
        while (rig.Allocator.TryAlloc(out _))
        {
        }
        int inUse = rig.Driver.DomainIds.InUse;
        AmdProtectionDomain.Alloc(rig.Driver, out var domain).ShouldBe(Errno.ENOMEM);
        domain.ShouldBeNull();
        rig.Driver.DomainIds.InUse.ShouldBe(inUse);
    }

    [Fact]
    public void FailedFlushes_AreCountedOncePerFailure_AndAMissingDeviceIsNoFlushFailure()
    {
        var rig = new AmdRig();
        var queue = new Mock<ICommandQueue>();
        queue.Setup(q => q.Post(It.IsAny<AmdCommand>())).Returns(Errno.Ok);
        var wait = Errno.Ok;
        queue.Setup(q => q.CompletionWait()).Returns(() => wait);
        AmdProtectionDomain.Alloc(rig.Driver, out var domain, queue.Object).ShouldBe(Errno.Ok);
        domain!.Attach(0x1000).ShouldBe(Errno.ENODEV);
        domain.FailedFlushes.ShouldBe(0);
        domain.Attach(3).ShouldBe(Errno.Ok);
        domain.Attach(4).ShouldBe(Errno.Ok);

        wait = Errno.EIO;
        domain.Table.MapPages(1UL << 40, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok, "growth itself cannot fail");
        domain.FailedFlushes.ShouldBe(2, "one per device whose DTE flush failed");
        domain.Detach(3).ShouldBe(Errno.EIO);
        domain.FailedFlushes.ShouldBe(3);
        domain.FlushIotlbAll().ShouldBe(Errno.EIO);
        domain.FailedFlushes.ShouldBe(4);
        domain.Release(0x55).ShouldBe(Errno.ENOENT);
        domain.FailedFlushes.ShouldBe(4);
    }

    [Fact]
    public void Growth_IsLoggedWithTheNewDepth()
    {
        var rig = new AmdRig();
        var domain = rig.NewDomain();
        domain.Attach(3).ShouldBe(Errno.Ok);
        domain.Table.MapPages(1UL << 40, 0x40_0000_0000, 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        int levels = (int)rig.Driver.DeviceTable.Read(3).Mode;
        levels.ShouldBe(domain.Table.TopLevel + 1);
        rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3120).Message.ShouldContain($"grew to {levels} levels, rewrote 1 device");
    }

    [Fact]
    public void UnmapPages_TakesPageSizeTimesCount()
    {
        var rig = new AmdRig();
        IIommuDomainOps ops = rig.NewDomain();
        for (ulong i = 0; i < 3; i++)
            ops.MapPages(0x10_0000 + (i << 12), 0x40_0000_0000 + (i << 12), 0x1000, 1, ReadWrite, out _).ShouldBe(Errno.Ok);
        var gather = new IotlbGather();
        ops.UnmapPages(0x10_0000, 0x1000, 2, gather).ShouldBe(0x2000UL);
        ops.IotlbSync(gather);
        ops.IovaToPhys(0x10_2000).ShouldBe(0x40_0000_2000UL);
        ops.IovaToPhys(0x10_1000).ShouldBe(0UL);
    }
}
