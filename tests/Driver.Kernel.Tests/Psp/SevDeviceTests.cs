using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>The SEV device against a scripted mailbox, a mocked CPU, IOMMU and allocator: the exact commands, buffers and retries.</summary>
public sealed class SevDeviceTests
{
    private const ulong CmdPage = 0x10_0000;
    private const ulong IommuLog = 0x30_0000;
    private const ulong IommuSem = 0x31_0000;

    private readonly ScriptedPsp _psp = new();
    private readonly FakeClock _clock = new();
    private readonly CapturedLogs _logs = new();
    private readonly Mock<ISnpCpu> _cpu = new();
    private readonly Mock<IIommuSnp> _iommu = new();
    private readonly Mock<IFrameAllocator> _frames = new();
    private readonly Mock<IInterruptController> _irq = new();
    private readonly List<ulong> _freed = [];
    private ulong _nextFrame = CmdPage;

    public SevDeviceTests()
    {
        _cpu.Setup(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>())).Returns(RmpUpdateResult.Success);
        _iommu.Setup(i => i.SnpEnable()).Returns(Errno.Ok);
        _iommu.Setup(i => i.SnpPages()).Returns([IommuLog, IommuSem]);
        _frames.Setup(f => f.TryAlloc(out It.Ref<ulong>.IsAny)).Returns(new TryAlloc((out ulong pa) =>
        {
            pa = _nextFrame;
            _nextFrame += 0x1000;
            return true;
        }));
        _frames.Setup(f => f.Free(It.IsAny<ulong>())).Callback((ulong pa) => _freed.Add(pa));
    }

    private delegate bool TryAlloc(out ulong pa);

    private SevDevice Device(SevDeviceConfig? config = null, bool probe = true, bool interrupts = false)
    {
        var sev = new SevDevice(_psp.Mmio.Object, _psp.Memory, _clock, _cpu.Object, _frames.Object, _iommu.Object,
            config ?? new SevDeviceConfig { MmioBase = ScriptedPsp.Base }, _logs, interrupts ? _irq.Object : null);
        if (probe)
            sev.Probe().ShouldBe(Errno.Ok);
        return sev;
    }

    private SevDevice Up(SevDeviceConfig? config = null)
    {
        var sev = Device(config);
        sev.SnpInit(out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        _cpu.Invocations.Clear();
        _freed.Clear();
        return sev;
    }

    private static RmpUpdateArgs FirmwarePage => new(0, true, false, true, 0);

    private static RmpUpdateArgs Shared => new(0, false, false, false, 0);

    [Fact]
    public void Probe_WithoutSev_IsEnodev_AndAllocatesNothing()
    {
        _psp.Feature = 0;
        Device(probe: false).Probe().ShouldBe(Errno.ENODEV);
        _frames.Verify(f => f.TryAlloc(out It.Ref<ulong>.IsAny), Times.Never);
        _logs.Single(5001, LogLevel.Error);
    }

    [Fact]
    public void Probe_WithoutAFrame_IsEnomem()
    {
        _frames.Setup(f => f.TryAlloc(out It.Ref<ulong>.IsAny)).Returns(false);
        var sev = Device(probe: false);
        sev.Probe().ShouldBe(Errno.ENOMEM);
        sev.Probed.ShouldBeFalse();
        _logs.Single(5007, LogLevel.Error);
    }

    [Fact]
    public void Probe_WithInterrupts_TakesTheLine_AndEnablesTheCompletionInterrupt()
    {
        _irq.Setup(i => i.RequestIrq(9, It.IsAny<Action>())).Returns(true);
        var sev = Device(new SevDeviceConfig { MmioBase = ScriptedPsp.Base, Irq = 9 }, probe: false, interrupts: true);
        sev.Probe().ShouldBe(Errno.Ok);
        _irq.Verify(i => i.RequestIrq(9, It.IsAny<Action>()), Times.Once);
        _psp.Writes.ShouldContain((ScriptedPsp.Base + PspMmio.InterruptEnableOffset, 2u));
    }

    [Fact]
    public void Probe_WhenTheLineIsTaken_IsEbusy_AndFreesTheCommandPage()
    {
        _irq.Setup(i => i.RequestIrq(It.IsAny<int>(), It.IsAny<Action>())).Returns(false);
        var sev = Device(probe: false, interrupts: true);
        sev.Probe().ShouldBe(Errno.EBUSY);
        _freed.ShouldBe([CmdPage]);
        sev.Probed.ShouldBeFalse();
        _logs.Single(5006, LogLevel.Error);
    }

    [Fact]
    public void DoCmd_CopiesTheBufferIn_AndTheFirmwaresAnswerBack()
    {
        var sev = Device();
        _psp.OnCommand = c => _psp.Memory.WriteU64(c.BufferPa + 8, 0xABCD);
        Span<ulong> buffer = [0x11, 0x22];
        sev.DoCmd(SevCommandId.SnpGuestStatus, buffer, out _).ShouldBe(Errno.Ok);
        var sent = _psp.Commands.Single();
        sent.BufferPa.ShouldBe(CmdPage);
        sent.Words[0].ShouldBe(0x11UL);
        sent.Words[1].ShouldBe(0x22UL);
        buffer[1].ShouldBe(0xABCDUL);
        sev.DoCmd(SevCommandId.SnpDfFlush, [], out _).ShouldBe(Errno.Ok);
        _psp.Commands[1].BufferPa.ShouldBe(0UL);
    }

    [Fact]
    public void SnpInit_ChecksTheIommu_ThenInitEx_DfFlush_AndReadsTheStatus()
    {
        var sev = Device(new SevDeviceConfig { MmioBase = ScriptedPsp.Base, Tio = true });
        _iommu.Setup(i => i.SnpEnable()).Returns(Errno.Ok).Callback(() => _psp.Commands.ShouldBeEmpty());
        sev.SnpInit(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        _iommu.Verify(i => i.SnpEnable(), Times.Once);
        _psp.Ids.ShouldBe([SevCommandId.SnpInitEx, SevCommandId.SnpDfFlush, SevCommandId.SnpPlatformStatus, SevCommandId.SnpPageReclaim]);
        var init = new SnpInitExBuffer(_psp.Commands[0].Words.Concat(new ulong[4]).ToArray());
        init.InitRmp.ShouldBeTrue();
        init.TioEn.ShouldBeTrue();
        init.ListPaddrEn.ShouldBeFalse();
        _psp.Commands[1].BufferPa.ShouldBe(0UL);
        // Platform status: a firmware page, named in the buffer, reclaimed and freed after.
        ulong page = _psp.Commands[2].Words[0];
        _psp.Commands[3].Words[0].ShouldBe(page);
        page.ShouldNotBe(CmdPage);
        _cpu.Verify(c => c.Rmpupdate(page, FirmwarePage), Times.Once);
        _cpu.Verify(c => c.Rmpupdate(page, Shared), Times.Once);
        _freed.ShouldBe([page]);
        sev.SnpInitialized.ShouldBeTrue();
        _logs.Single(5010, LogLevel.Information);
    }

    [Fact]
    public void SnpInit_WithoutTio_LeavesTioEnClear()
    {
        Device().SnpInit(out _).ShouldBe(Errno.Ok);
        _psp.Commands[0].Words[0].ShouldBe(1UL);
    }

    [Fact]
    public void SnpInit_WhenTheIommuRefuses_SendsNothing()
    {
        _iommu.Setup(i => i.SnpEnable()).Returns(Errno.EINVAL);
        var sev = Device();
        sev.SnpInit(out _).ShouldBe(Errno.EINVAL);
        _psp.Commands.ShouldBeEmpty();
        sev.SnpInitialized.ShouldBeFalse();
    }

    [Fact]
    public void SnpInit_WhenInitExIsRefused_IsEio_AndStopsThere()
    {
        _psp.Queue(SevStatus.RmpInitRequired);
        var sev = Device();
        sev.SnpInit(out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.RmpInitRequired);
        _psp.Ids.ShouldBe([SevCommandId.SnpInitEx]);
        sev.SnpInitialized.ShouldBeFalse();
        _logs.Single(5011, LogLevel.Error).Message.ShouldContain("SnpInitEx");
    }

    [Fact]
    public void SnpInit_WhenTheFlushFails_IsEio_ButThePlatformIsUpAndCanBeShutDown()
    {
        _psp.Queue(SevStatus.Success, SevStatus.InvalidPlatformState);
        var sev = Device();
        sev.SnpInit(out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPlatformState);
        _psp.Ids.ShouldBe([SevCommandId.SnpInitEx, SevCommandId.SnpDfFlush]);
        sev.SnpInitialized.ShouldBeTrue();
        sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void SnpInit_BeforeProbe_IsEnodev()
    {
        Device(probe: false).SnpInit(out _).ShouldBe(Errno.ENODEV);
        _iommu.Verify(i => i.SnpEnable(), Times.Never);
    }

    [Fact]
    public void SnpShutdown_SendsShutdownExWithTheIommu_ThenDisablesTheIommusSnp()
    {
        var sev = Up();
        sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
        var sent = _psp.Commands.Single();
        sent.Id.ShouldBe(SevCommandId.SnpShutdownEx);
        var buffer = new SnpShutdownExBuffer(sent.Words[0]);
        buffer.Length.ShouldBe(8u);
        buffer.IommuSnpShutdown.ShouldBeTrue();
        buffer.X86SnpShutdown.ShouldBeFalse();
        _iommu.Verify(i => i.SnpDisable(), Times.Once);
        sev.SnpInitialized.ShouldBeFalse();
        _logs.Single(5013, LogLevel.Information);
    }

    [Fact]
    public void SnpShutdown_OnDfFlushRequired_FlushesAndRetriesOnce()
    {
        var sev = Up();
        _psp.Queue(SevStatus.DfflushRequired, SevStatus.Success, SevStatus.Success);
        sev.SnpShutdown(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        _psp.Ids.ShouldBe([SevCommandId.SnpShutdownEx, SevCommandId.SnpDfFlush, SevCommandId.SnpShutdownEx]);
        _psp.Commands[2].Words[0].ShouldBe(_psp.Commands[0].Words[0]);
        _logs.Single(5014, LogLevel.Information);
        sev.SnpInitialized.ShouldBeFalse();
    }

    [Fact]
    public void SnpShutdown_StillRefusedAfterTheRetry_IsEio_AndSnpStaysUp()
    {
        var sev = Up();
        _psp.Queue(SevStatus.DfflushRequired, SevStatus.InvalidPlatformState, SevStatus.DfflushRequired);
        sev.SnpShutdown(out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.DfflushRequired);
        _psp.Ids.ShouldBe([SevCommandId.SnpShutdownEx, SevCommandId.SnpDfFlush, SevCommandId.SnpShutdownEx]);
        sev.SnpInitialized.ShouldBeTrue();
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Never);
        _logs.All.Count(r => r.Id.Id == 5011).ShouldBe(2);
    }

    [Fact]
    public void SnpShutdown_OnAnotherStatus_DoesNotRetry()
    {
        var sev = Up();
        _psp.Queue(SevStatus.InvalidLen);
        sev.SnpShutdown(out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidLen);
        _psp.Ids.ShouldBe([SevCommandId.SnpShutdownEx]);
    }

    [Fact]
    public void SnpShutdown_AsksTheIommuDriverToShareItsPagesAfterShutdownEx()
    {
        var sev = Up();
        _iommu.Setup(i => i.SnpDisable()).Returns(Errno.Ok).Callback(() => _psp.Ids.ShouldBe([SevCommandId.SnpShutdownEx]));
        sev.SnpShutdown(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        sev.SnpInitialized.ShouldBeFalse();
        _iommu.Verify(i => i.SnpDisable(), Times.Once);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Never, "the IOMMU driver makes its own pages shared");
        _logs.Single(5013, LogLevel.Information).Message.ShouldContain("2 IOMMU pages");
    }

    [Fact]
    public void SnpShutdown_WhenTheIommuCannotShareItsPages_IsItsErrno_AndStaysUpForASecondTry()
    {
        var sev = Up();
        _iommu.Setup(i => i.SnpDisable()).Returns(Errno.EFAULT);
        sev.SnpShutdown(out var status).ShouldBe(Errno.EFAULT);
        status.ShouldBe(SevStatus.Success);
        sev.SnpInitialized.ShouldBeTrue("as Linux leaves snp_initialized");
        _logs.Single(5015, LogLevel.Error).Message.ShouldContain("EFAULT");
        sev.Rmp.LeakedPages.ShouldBe(0);
        _iommu.Setup(i => i.SnpDisable()).Returns(Errno.Ok);
        sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
        sev.SnpInitialized.ShouldBeFalse();
        _psp.Ids.ShouldBe([SevCommandId.SnpShutdownEx, SevCommandId.SnpShutdownEx]);
    }

    [Fact]
    public void SnpShutdown_WhenDown_SendsNothing()
    {
        Device().SnpShutdown(out _).ShouldBe(Errno.Ok);
        _psp.Commands.ShouldBeEmpty();
    }

    [Fact]
    public void ReclaimPages_LeaksThePageThatFailed_AndEveryOneAfter()
    {
        var sev = Up();
        _psp.Queue(SevStatus.Success, SevStatus.InvalidPageState);
        sev.SnpReclaimPages(0x50_0000, 3, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPageState);
        _psp.Ids.ShouldBe([SevCommandId.SnpPageReclaim, SevCommandId.SnpPageReclaim]);
        _psp.Commands[0].Words[0].ShouldBe(0x50_0000UL);
        _psp.Commands[1].Words[0].ShouldBe(0x50_1000UL);
        _cpu.Verify(c => c.Rmpupdate(0x50_0000, Shared), Times.Once);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Once);
        sev.Rmp.LeakedPages.ShouldBe(2);
        sev.Rmp.IsLeaked(0x50_0000).ShouldBeFalse();
        sev.Rmp.IsLeaked(0x50_1000).ShouldBeTrue();
        sev.Rmp.IsLeaked(0x50_2000).ShouldBeTrue();
    }

    [Fact]
    public void ReclaimPages_WhenThePageCannotBeMadeShared_LeaksIt()
    {
        var sev = Up();
        _cpu.Setup(c => c.Rmpupdate(0x50_0000, Shared)).Returns(RmpUpdateResult.Permission);
        sev.SnpReclaimPages(0x50_0000, 1, out var status).ShouldBe(Errno.EFAULT);
        status.ShouldBe(SevStatus.Success);
        sev.Rmp.IsLeaked(0x50_0000).ShouldBeTrue();
    }

    [Fact]
    public void MarkPagesFirmware_UndoesThePagesBeforeTheOneThatFailed()
    {
        var sev = Up();
        _cpu.Setup(c => c.Rmpupdate(0x50_2000, FirmwarePage)).Returns(RmpUpdateResult.Overlap);
        sev.RmpMarkPagesFirmware(0x50_0000, 4, out _).ShouldBe(Errno.EFAULT);
        _psp.Ids.ShouldBe([SevCommandId.SnpPageReclaim, SevCommandId.SnpPageReclaim]);
        _psp.Commands.Select(c => c.Words[0]).ShouldBe([0x50_0000UL, 0x50_1000UL]);
        _cpu.Verify(c => c.Rmpupdate(0x50_3000, It.IsAny<RmpUpdateArgs>()), Times.Never);
        sev.Rmp.LeakedPages.ShouldBe(0);
    }

    [Fact]
    public void PageReclaim_AndUnsmash_SendTheirWord()
    {
        var sev = Up();
        sev.SnpPageReclaim(0x60_0123, RmpPageLevel.Level2M, out _).ShouldBe(Errno.Ok);
        sev.SnpPageReclaim(0x60_1000, RmpPageLevel.Level4K, out _).ShouldBe(Errno.Ok);
        sev.SnpPageUnsmash(0x60_0000, out _).ShouldBe(Errno.Ok);
        sev.SnpPageUnsmash(0x60_1000, out _).ShouldBe(Errno.EINVAL);
        _psp.Ids.ShouldBe([SevCommandId.SnpPageReclaim, SevCommandId.SnpPageReclaim, SevCommandId.SnpPageUnsmash]);
        _psp.Commands.Select(c => c.Words[0]).ShouldBe([0x60_0001UL, 0x60_1000UL, 0x60_0001UL]);
    }

    [Fact]
    public void GctxCreate_MakesAFirmwarePage_ThenNamesItToFirmware()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.Ok);
        context!.Pa.ShouldBe(CmdPage + 0x2000);
        _cpu.Verify(c => c.Rmpupdate(context.Pa, FirmwarePage), Times.Once);
        _psp.Commands.Single().Id.ShouldBe(SevCommandId.SnpGctxCreate);
        _psp.Commands.Single().Words[0].ShouldBe(context.Pa);
        _freed.ShouldBeEmpty();
        _logs.All.ShouldContain(r => r.Id.Id == 5030);
    }

    [Fact]
    public void GctxCreate_Refused_ReclaimsAndFreesThePage()
    {
        var sev = Up();
        _psp.Queue(SevStatus.InvalidPageState);
        sev.SnpGctxCreate(out var context, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPageState);
        context.ShouldBeNull();
        ulong page = CmdPage + 0x2000;
        _psp.Ids.ShouldBe([SevCommandId.SnpGctxCreate, SevCommandId.SnpPageReclaim]);
        _cpu.Verify(c => c.Rmpupdate(page, Shared), Times.Once);
        _freed.ShouldContain(page);
    }

    [Fact]
    public void GctxCreate_WhenThePageCannotBeMadeFirmwares_FreesIt_AndSendsNothing()
    {
        var sev = Up();
        _cpu.Setup(c => c.Rmpupdate(It.IsAny<ulong>(), FirmwarePage)).Returns(RmpUpdateResult.Input);
        sev.SnpGctxCreate(out _, out _).ShouldBe(Errno.EFAULT);
        _psp.Commands.ShouldBeEmpty();
        _freed.ShouldContain(CmdPage + 0x2000);
    }

    [Fact]
    public void GctxCreate_WithoutMemory_IsEnomem()
    {
        var sev = Up();
        _frames.Setup(f => f.TryAlloc(out It.Ref<ulong>.IsAny)).Returns(false);
        sev.SnpGctxCreate(out _, out _).ShouldBe(Errno.ENOMEM);
        _psp.Commands.ShouldBeEmpty();
        _logs.Single(5007, LogLevel.Error);
    }

    [Fact]
    public void AFirmwarePageThatCannotBeReclaimed_IsLeaked_NotFreed()
    {
        var sev = Up();
        _psp.Queue(SevStatus.Success, SevStatus.InvalidPageState);
        sev.SnpPlatformStatus(out _, out _).ShouldBe(Errno.EIO);
        ulong page = _psp.Commands[0].Words[0];
        sev.Rmp.IsLeaked(page).ShouldBeTrue();
        _freed.ShouldNotContain(page);
    }

    [Fact]
    public void Activate_SendsTheContextAndTheAsid_AndFlushesWhenFirmwareAsks()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        _psp.Queue(SevStatus.DfflushRequired);
        sev.SnpActivate(context!, 12, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        _psp.Ids.ShouldBe([SevCommandId.SnpActivate, SevCommandId.SnpDfFlush, SevCommandId.SnpActivate]);
        var buffer = new SnpActivateBuffer(_psp.Commands[2].Words[..2]);
        buffer.GctxPaddr.ShouldBe(context!.Pa);
        buffer.Asid.ShouldBe(12u);
        context.Asid.ShouldBe((ushort)12);
    }

    [Fact]
    public void Activate_WhenTheFlushFails_StopsThere()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        _psp.Queue(SevStatus.DfflushRequired, SevStatus.InvalidPlatformState);
        sev.SnpActivate(context!, 12, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidPlatformState);
        _psp.Ids.ShouldBe([SevCommandId.SnpActivate, SevCommandId.SnpDfFlush]);
        context!.Asid.ShouldBe((ushort)0);
    }

    [Fact]
    public void Decommission_Refused_LeavesTheContextAlive()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var context, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        _psp.Queue(SevStatus.InUse);
        sev.SnpDecommission(context!, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InUse);
        _psp.Ids.ShouldBe([SevCommandId.SnpDecommission]);
        _psp.Commands[0].Words[0].ShouldBe(context!.Pa);
        context.Alive.ShouldBeTrue();
        _freed.ShouldBeEmpty();
        sev.SnpDecommission(context, out _).ShouldBe(Errno.Ok);
        _psp.Ids.ShouldBe([SevCommandId.SnpDecommission, SevCommandId.SnpDecommission, SevCommandId.SnpPageReclaim]);
        _freed.ShouldBe([context.Pa]);
    }

    [Fact]
    public void TheTdiCommands_SendTheirBuffers()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        sev.SnpActivate(guest!, 3, out _).ShouldBe(Errno.Ok);
        sev.TioInit(out _).ShouldBe(Errno.Ok);
        sev.TdiCreate(0x31, out var tdi, out _).ShouldBe(Errno.Ok);
        sev.TdiBind(tdi!, guest!, out _).ShouldBe(Errno.Ok);
        sev.TdiUnbind(tdi!, out _).ShouldBe(Errno.Ok);
        sev.TdiReclaim(tdi!, out _).ShouldBe(Errno.Ok);
        _psp.Ids.ShouldBe([SevCommandId.SnpGctxCreate, SevCommandId.SnpActivate, SevCommandId.TioInit, SevCommandId.TioTdiCreate,
            SevCommandId.TioTdiBind, SevCommandId.TioTdiUnbind, SevCommandId.TioTdiReclaim, SevCommandId.SnpPageReclaim]);
        new TioInitBuffer(_psp.Commands[2].Words[0]).Length.ShouldBe(8u);
        var create = new TioTdiCreateBuffer(_psp.Commands[3].Words[..2]);
        create.Length.ShouldBe(16u);
        create.DeviceId.ShouldBe((ushort)0x31);
        create.TdiCtxPaddr.ShouldBe(tdi!.Pa);
        var bind = new TioTdiBindBuffer(_psp.Commands[4].Words[..3]);
        bind.Length.ShouldBe(24u);
        bind.TdiCtxPaddr.ShouldBe(tdi.Pa);
        bind.GctxPaddr.ShouldBe(guest!.Pa);
        var unbind = new TioTdiUnbindBuffer(_psp.Commands[5].Words[..2]);
        unbind.Length.ShouldBe(16u);
        unbind.TdiCtxPaddr.ShouldBe(tdi.Pa);
        var reclaim = new TioTdiReclaimBuffer(_psp.Commands[6].Words[..2]);
        reclaim.Length.ShouldBe(16u);
        reclaim.TdiCtxPaddr.ShouldBe(tdi.Pa);
        _cpu.Verify(c => c.Rmpupdate(tdi.Pa, FirmwarePage), Times.Once);
        _freed.ShouldContain(tdi.Pa);
        sev.TioInitialized.ShouldBeTrue();
    }

    [Fact]
    public void TheTdiCommands_Refused_ChangeNoHandle()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        sev.TdiCreate(0x31, out var tdi, out _).ShouldBe(Errno.Ok);
        _psp.Queue(SevStatus.InvalidGuestState, SevStatus.Success, SevStatus.InUse, SevStatus.InvalidParam);
        sev.TdiBind(tdi!, guest!, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidGuestState);
        tdi!.Guest.ShouldBeNull();
        sev.TdiBind(tdi, guest!, out _).ShouldBe(Errno.Ok);
        sev.TdiUnbind(tdi, out status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InUse);
        tdi.Guest.ShouldBeSameAs(guest);
        sev.TdiUnbind(tdi, out _).ShouldBe(Errno.EIO);
        tdi.Guest.ShouldBeSameAs(guest);
        sev.TdiUnbind(tdi, out _).ShouldBe(Errno.Ok);
        _psp.Queue(SevStatus.InUse);
        sev.TdiReclaim(tdi, out _).ShouldBe(Errno.EIO);
        tdi.Alive.ShouldBeTrue();
        _psp.Queue(SevStatus.InvalidPlatformState);
        sev.TioInit(out _).ShouldBe(Errno.EIO);
        sev.TioInitialized.ShouldBeFalse();
        _psp.Queue(SevStatus.AlreadyOwned);
        sev.TdiCreate(0x31, out var second, out _).ShouldBe(Errno.EIO);
        second.ShouldBeNull();
    }

    [Fact]
    public void TheTdiCommands_WhileSnpIsDown_AreEnodev()
    {
        var sev = Device();
        sev.TioInit(out _).ShouldBe(Errno.ENODEV);
        sev.TdiCreate(1, out _, out _).ShouldBe(Errno.ENODEV);
        _psp.Commands.ShouldBeEmpty();
    }

    [Fact]
    public void ProposedIopdeSmash_SendsTheIopdeAndTheTable()
    {
        var sev = Up();
        sev.ProposedIopdeSmash(0x70_0028, 0x71_0000, out _).ShouldBe(Errno.Ok);
        var sent = _psp.Commands.Single();
        sent.Id.ShouldBe(SevDevice.ProposedIopdeSmashCommand);
        ((int)sent.Id).ShouldBe(0xE0);
        var buffer = new ProposedIopdeSmashBuffer(sent.Words[..2]);
        buffer.IopdeAddress.ShouldBe(0x70_0028UL);
        buffer.PteTableAddress.ShouldBe(0x71_0000UL);
        _logs.Single(5040, LogLevel.Warning);
    }

    [Fact]
    public void ADeadPsp_GetsNoFirmwarePage()
    {
        var sev = Up();
        _psp.Answers = false;
        sev.DoCmd(SevCommandId.SnpDfFlush, [], out _).ShouldBe(Errno.ETIMEDOUT);
        _cpu.Invocations.Clear();
        sev.SnpGctxCreate(out _, out _).ShouldBe(Errno.EBUSY);
        sev.SnpPlatformStatus(out _, out _).ShouldBe(Errno.EBUSY);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Never);
        sev.Rmp.LeakedPages.ShouldBe(0);
    }

    [Fact]
    public void HandleChecks_ComeBeforeFirmware()
    {
        var sev = Up();
        sev.SnpGctxCreate(out var guest, out _).ShouldBe(Errno.Ok);
        sev.TdiCreate(1, out var tdi, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        sev.TdiUnbind(tdi!, out _).ShouldBe(Errno.EINVAL);
        sev.ProposedIopdeSmash(0x70_0004, 0x71_0000, out _).ShouldBe(Errno.EINVAL);
        sev.ProposedIopdeSmash(0x70_0000, 0x71_0800, out _).ShouldBe(Errno.EINVAL);
        sev.SnpDecommission(guest!, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        sev.SnpActivate(guest!, 1, out _).ShouldBe(Errno.EINVAL);
        sev.TdiBind(tdi!, guest!, out _).ShouldBe(Errno.EINVAL);
        sev.TdiReclaim(tdi!, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Clear();
        sev.TdiReclaim(tdi!, out _).ShouldBe(Errno.EINVAL);
        sev.TdiUnbind(tdi!, out _).ShouldBe(Errno.EINVAL);
        _psp.Commands.ShouldBeEmpty();
        Should.Throw<ArgumentNullException>(() => sev.SnpActivate(null!, 1, out _));
        Should.Throw<ArgumentNullException>(() => sev.SnpDecommission(null!, out _));
        Should.Throw<ArgumentNullException>(() => sev.TdiBind(null!, guest!, out _));
        Should.Throw<ArgumentNullException>(() => sev.TdiBind(tdi!, null!, out _));
        Should.Throw<ArgumentNullException>(() => sev.TdiUnbind(null!, out _));
        Should.Throw<ArgumentNullException>(() => sev.TdiReclaim(null!, out _));
    }

    [Fact]
    public void NullArguments_AreBugs()
    {
        var m = _psp.Mmio.Object;
        var p = _psp.Memory;
        Should.Throw<ArgumentNullException>(() => new SevDevice(null!, p, _clock, _cpu.Object, _frames.Object, _iommu.Object));
        Should.Throw<ArgumentNullException>(() => new SevDevice(m, null!, _clock, _cpu.Object, _frames.Object, _iommu.Object));
        Should.Throw<ArgumentNullException>(() => new SevDevice(m, p, null!, _cpu.Object, _frames.Object, _iommu.Object));
        Should.Throw<ArgumentNullException>(() => new SevDevice(m, p, _clock, null!, _frames.Object, _iommu.Object));
        Should.Throw<ArgumentNullException>(() => new SevDevice(m, p, _clock, _cpu.Object, null!, _iommu.Object));
        Should.Throw<ArgumentNullException>(() => new SevDevice(m, p, _clock, _cpu.Object, _frames.Object, null!));
    }
}
