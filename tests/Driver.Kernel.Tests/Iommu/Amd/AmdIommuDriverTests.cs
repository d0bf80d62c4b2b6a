using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform;
using Driver.Platform.Iommu;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>Probe and init of the AMD IOMMU driver on the simulated machine, through MMIO only.</summary>
public sealed class AmdIommuDriverTests
{
    [Fact]
    public void Init_EnablesTheIommuWithItsRingsAndLogsIt()
    {
        var rig = new AmdRig();
        var control = rig.Driver.Registers.Control;
        control.IommuEn.ShouldBeTrue();
        control.CmdBufEn.ShouldBeTrue();
        control.EventLogEn.ShouldBeTrue();
        var status = rig.Driver.Registers.Status;
        status.CmdBufRun.ShouldBeTrue();
        status.EventLogRun.ShouldBeTrue();

        var devTab = new DeviceTableBaseRegister(rig.Driver.Registers.Read(AmdIommuMmio.DeviceTableBaseOffset));
        devTab.Base.ShouldBe(rig.Driver.DeviceTable.BasePa);
        ((devTab.Size + 1) * 128).ShouldBe(256, "DeviceIDs 0..0xff need two pages");
        var ring = new CommandBufferBaseRegister(rig.Driver.Registers.Read(AmdIommuMmio.CommandBufferBaseOffset));
        ring.Length.ShouldBe((byte)9);
        var log = new EventLogBaseRegister(rig.Driver.Registers.Read(AmdIommuMmio.EventLogBaseOffset));
        log.Length.ShouldBe((byte)8);
        log.Base.ShouldBe(rig.Driver.EventLogPa);

        // 256 INVALIDATE_DEVTAB_ENTRY, INVALIDATE_IOMMU_ALL (EFR.IA), and the COMPLETION_WAIT that stored 1.
        rig.Driver.CommandQueue.CommandsPosted.ShouldBe(258);
        rig.Driver.CommandQueue.LastSemaphoreValue.ShouldBe(1UL);
        rig.Machine.KernelMemory.ReadU64(rig.Driver.CommandQueue.SemaphorePa).ShouldBe(1UL);
        // Device table (2), ring (2), log (1), semaphore (1).
        rig.Allocator.FramesInUse.ShouldBe(6);

        var record = rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3100);
        record.Level.ShouldBe(LogLevel.Information);
        record.GetStructuredStateValue("MmioBase").ShouldBe(Machine.IommuMmioBase.ToString());
        record.Message.ShouldContain("SnpSup = true");
    }

    [Fact]
    public void Init_WithoutIa_InvalidatesEveryEntryButNotAll()
    {
        var efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level4);
        var rig = new AmdRig(machine: new MachineConfig { Iommu = new IommuConfig { Efr = efr } });
        rig.Driver.CommandQueue.CommandsPosted.ShouldBe(257);
        rig.Driver.MaxLevels.ShouldBe(4);
    }

    [Fact]
    public void Init_Twice_IsBusy()
    {
        var rig = new AmdRig();
        rig.Driver.Init().ShouldBe(Errno.EBUSY);
        rig.Allocator.FramesInUse.ShouldBe(6);
    }

    [Fact]
    public void Init_WhereNoDeviceAnswers_IsNoDeviceAndAllocatesNothing()
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = 0xFE00_0000 }, init: false);
        rig.Driver.Init().ShouldBe(Errno.ENODEV);
        rig.Allocator.FramesInUse.ShouldBe(0);
        rig.Driver.Initialized.ShouldBeFalse();
        rig.Logs.GetSnapshot().Single().Id.Id.ShouldBe(3101);
    }

    [Fact]
    public void Init_WithoutHostTranslation_IsNoDevice()
    {
        var efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Unsupported);
        var rig = new AmdRig(machine: new MachineConfig { Iommu = new IommuConfig { Efr = efr } }, init: false);
        rig.Driver.Init().ShouldBe(Errno.ENODEV);
        rig.Driver.Registers.Control.IommuEn.ShouldBeFalse();
        rig.Logs.GetSnapshot().Single().Id.Id.ShouldBe(3102);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public void Init_OutOfMemory_FreesWhatItHadAndEnablesNothing(int frames)
    {
        var rig = new AmdRig(zoneSize: (ulong)frames << 12, init: false);
        rig.Driver.Init().ShouldBe(Errno.ENOMEM);
        rig.Allocator.FramesInUse.ShouldBe(0);
        rig.Driver.Registers.Control.IommuEn.ShouldBeFalse();
        rig.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3103 && r.Level == LogLevel.Error);
    }

    [Fact]
    public void DeviceTable_IsSizedForTheLastDeviceId_AndEveryEntryStartsBlocked()
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, LastDeviceId = 0x3FF });
        rig.Driver.DeviceTable.Entries.ShouldBe(1024);
        rig.Driver.DeviceTable.Read(0x3FF).ShouldBe(AmdIommuDriver.BlockedEntry);
        // A blocked device's DMA faults (translation on, no permission), and the fault is logged by the IOMMU.
        rig.Machine.Iommu.Translate(0x3FF, 0x1000, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);
        rig.Machine.Iommu.Translate(0x400, 0x1000, write: false).Status.ShouldBe(TranslationStatus.DeviceTableError);
    }

    [Fact]
    public void Snp_UsesTheExclusionRegistersForTheSemaphore()
    {
        var rig = new AmdRig();
        var limit = new ExclusionLimitRegister(rig.Driver.Registers.Read(AmdIommuMmio.ExclusionLimitOffset));
        var bas = new ExclusionBaseRegister(rig.Driver.Registers.Read(AmdIommuMmio.ExclusionBaseOffset));
        bas.Base.ShouldBe(rig.Driver.CommandQueue.SemaphorePa);
        limit.Limit.ShouldBe(rig.Driver.CommandQueue.SemaphorePa);
    }

    [Fact]
    public void SnpEnable_ChecksLinuxsPreconditions()
    {
        var down = new AmdRig(init: false);
        down.Driver.SnpEnable().ShouldBe(Errno.EINVAL, "Linux: an IOMMU that is not enabled cannot support SNP");
        down.Driver.SnpEnabled.ShouldBeFalse();
        down.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3130 && r.Level == LogLevel.Warning);

        var passthrough = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, Passthrough = true });
        passthrough.Driver.SnpEnable().ShouldBe(Errno.EINVAL);
        passthrough.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3130 && r.Level == LogLevel.Warning);

        var efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level6);
        var noSnp = new AmdRig(machine: new MachineConfig { Iommu = new IommuConfig { Efr = efr } });
        noSnp.Driver.SnpEnable().ShouldBe(Errno.EINVAL);
        noSnp.Driver.SnpEnabled.ShouldBeFalse();
        noSnp.Logs.GetSnapshot().ShouldContain(r => r.Id.Id == 3131);

        var rig = new AmdRig();
        rig.Driver.DomainPageSizes.ShouldBe(0UL);
        rig.Driver.SnpEnable().ShouldBe(Errno.Ok);
        rig.Driver.SnpEnabled.ShouldBeTrue();
        rig.Driver.DomainPageSizes.ShouldBe(1UL << 12, "Linux maps with 4K pages once SNP is on");
        rig.NewDomain().Table.PageSizeBitmap.ShouldBe(1UL << 12);
    }

    [Fact]
    public void SnpEnable_WithHugePagesAllowed_KeepsEveryPageSize()
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, HugePagesWithSnp = true });
        ulong before = rig.NewDomain().Table.PageSizeBitmap;
        rig.Driver.SnpEnable().ShouldBe(Errno.Ok);
        rig.NewDomain().Table.PageSizeBitmap.ShouldBe(before);
        (before & (1UL << 21)).ShouldNotBe(0UL);
    }

    [Fact]
    public void WithInterrupts_TheEventLogIsDrainedOnTheIommusLine()
    {
        var machine = new Machine();
        var allocator = new FrameAllocator(machine.KernelMemory, AmdRig.ZoneBase, AmdRig.ZoneSize);
        var interrupts = new Mock<IInterruptController>();
        Action? handler = null;
        interrupts.Setup(i => i.RequestIrq(24, It.IsAny<Action>())).Callback<int, Action>((_, h) => handler = h).Returns(true);
        var driver = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, allocator,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase }, interrupts: interrupts.Object);
        driver.Init().ShouldBe(Errno.Ok);
        handler.ShouldNotBeNull();

        var received = new List<AmdIommuEvent>();
        driver.EventLog.EventReceived += received.Add;
        machine.Iommu.Translate(0x7, 0x9000, write: false);
        handler!();
        received.Single().DeviceId.ShouldBe((ushort)7);
    }

    [Fact]
    public void ATakenLine_FailsInitWithEbusy_AndFreesEverything()
    {
        var machine = new Machine();
        var allocator = new FrameAllocator(machine.KernelMemory, AmdRig.ZoneBase, AmdRig.ZoneSize);
        var interrupts = new Mock<IInterruptController>();
        interrupts.Setup(i => i.RequestIrq(It.IsAny<int>(), It.IsAny<Action>())).Returns(false);
        var driver = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, allocator,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase }, interrupts: interrupts.Object);
        driver.Init().ShouldBe(Errno.EBUSY);
        allocator.FramesInUse.ShouldBe(0);
        new ControlRegister(ReadControl(machine)).IommuEn.ShouldBeFalse();
    }

    [Fact]
    public void AfterSnpEnable_TheDriverWritesNoLockedRegister()
    {
        var machine = new Machine();
        var allocator = new FrameAllocator(machine.KernelMemory, AmdRig.ZoneBase, AmdRig.ZoneSize);
        var writes = new List<ulong>();
        var mmio = new Mock<IMmio>();
        mmio.Setup(m => m.Read64(It.IsAny<ulong>(), out It.Ref<ulong>.IsAny))
            .Returns(new Read64((ulong pa, out ulong value) => machine.Mmio.Read64(pa, out value)));
        mmio.Setup(m => m.Write64(It.IsAny<ulong>(), It.IsAny<ulong>()))
            .Returns((ulong pa, ulong value) =>
            {
                writes.Add(pa - Machine.IommuMmioBase);
                return machine.Mmio.Write64(pa, value);
            });
        var driver = new AmdIommuDriver(mmio.Object, machine.KernelMemory, machine.Clock, allocator,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
        driver.Init().ShouldBe(Errno.Ok);
        driver.SnpEnable().ShouldBe(Errno.Ok);
        writes.Clear();

        AmdProtectionDomain.Alloc(driver, out var domain).ShouldBe(Errno.Ok);
        domain!.Attach(5).ShouldBe(Errno.Ok);
        domain.Table.MapPages(0x1000, 0x40_0000_0000, 0x1000, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        for (int i = 0; i < 300; i++)
            machine.Iommu.Translate(5, 0x10_0000UL * (ulong)(i + 1), write: false);
        driver.EventLog.HandleInterrupt().ShouldBeGreaterThan(0);
        driver.EventLog.Overflows.ShouldBe(1);
        domain.Detach(5).ShouldBe(Errno.Ok);
        driver.Init().ShouldBe(Errno.EBUSY);

        ulong[] locked = [AmdIommuMmio.DeviceTableBaseOffset, AmdIommuMmio.CommandBufferBaseOffset,
            AmdIommuMmio.EventLogBaseOffset, AmdIommuMmio.ExclusionBaseOffset, AmdIommuMmio.ExclusionLimitOffset];
        writes.ShouldNotBeEmpty();
        writes.Intersect(locked).ShouldBeEmpty();
    }

    private delegate MmioStatus Read64(ulong pa, out ulong value);

    private static ulong ReadControl(Machine machine)
    {
        machine.Mmio.Read64(Machine.IommuMmioBase + AmdIommuMmio.ControlOffset, out ulong value);
        return value;
    }
}
