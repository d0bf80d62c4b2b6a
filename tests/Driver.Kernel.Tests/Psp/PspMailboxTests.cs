using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>The mailbox protocol against a scripted MMIO: the exact register writes, the status, the bounded wait.</summary>
public sealed class PspMailboxTests
{
    private readonly ScriptedPsp _psp = new();
    private readonly FakeClock _clock = new();
    private readonly CapturedLogs _logs = new();

    private PspMailbox Mailbox(long timeoutNs = 100_000_000_000) =>
        new(_psp.Mmio.Object, _clock, new SevDeviceConfig { MmioBase = ScriptedPsp.Base, CommandTimeoutNs = timeoutNs }, _logs.CreateLogger("psp"));

    [Fact]
    public void DoCmd_WritesTheAddressLowThenHighThenTheCommand()
    {
        var mailbox = Mailbox();
        mailbox.DoCmd(SevCommandId.SnpPlatformStatus, 0x12_3456_7000, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        _psp.Writes.ShouldBe([
            (ScriptedPsp.Base + 0x109E0, 0x3456_7000u),
            (ScriptedPsp.Base + 0x109E4, 0x12u),
            (ScriptedPsp.Base + 0x10980, 0x0083_0000u),
        ]);
        _psp.Commands.Single().BufferPa.ShouldBe(0x12_3456_7000UL);
        mailbox.CommandsIssued.ShouldBe(1);
        _clock.Delays.ShouldBe(0);
    }

    [Fact]
    public void AFirmwareStatus_IsEioWithTheStatus()
    {
        _psp.Queue(SevStatus.InvalidParam);
        var mailbox = Mailbox();
        mailbox.DoCmd(SevCommandId.SnpInitEx, 0x1000, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidParam);
        _logs.Single(5003, LogLevel.Debug).Message.ShouldContain("InvalidParam");
        mailbox.Dead.ShouldBeFalse();
        mailbox.DoCmd(SevCommandId.SnpInitEx, 0x1000, out status).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void APspThatNeverAnswers_TimesOutOnTheClock_AndIsDeadAfterwards()
    {
        _psp.Answers = false;
        var mailbox = Mailbox(timeoutNs: 50_000_000);
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out var status).ShouldBe(Errno.ETIMEDOUT);
        status.ShouldBe(SevStatus.Success);
        _clock.NowNs.ShouldBeInRange(50_000_000, 51_000_000);
        mailbox.Dead.ShouldBeTrue();
        _logs.Single(5002, LogLevel.Error).Message.ShouldContain("SnpDfFlush");
        int writes = _psp.Writes.Count;
        _psp.Answers = true;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.EBUSY);
        _psp.Writes.Count.ShouldBe(writes);
        mailbox.CommandsIssued.ShouldBe(1);
        _logs.Single(5004, LogLevel.Warning);
    }

    [Fact]
    public void TheWait_BacksOff_SoALongBoundCostsFewReads()
    {
        _psp.Answers = false;
        var mailbox = Mailbox();
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.ETIMEDOUT);
        _clock.NowNs.ShouldBeGreaterThanOrEqualTo(100_000_000_000);
        _clock.NowNs.ShouldBeLessThan(100_001_000_001);
        _psp.CmdRespReads.ShouldBeInRange(100_000, 100_020);
    }

    [Fact]
    public void TheWait_FindsAnAnswerThatComesLate_WithADelayThatDoubles()
    {
        _psp.Answers = false;
        _clock.OnDelay = () =>
        {
            if (_clock.Delays == 3)
                _psp.AnswerNow(SevStatus.InvalidGuest);
        };
        var mailbox = Mailbox();
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out var status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.InvalidGuest);
        _clock.Delays.ShouldBe(3);
        _psp.CmdRespReads.ShouldBe(4);
        // 1 + 2 + 4 us.
        _clock.NowNs.ShouldBe(7_000);
    }

    [Fact]
    public void ABusErrorOnTheMailbox_IsEio()
    {
        _psp.FailWritesAt = ScriptedPsp.Base + PspMmio.CmdBufferAddressHiOffset;
        var mailbox = Mailbox();
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.EIO);
        _psp.Commands.ShouldBeEmpty();
        _logs.Single(5005, LogLevel.Error);
        _psp.FailWritesAt = null;
        _psp.FailReadsAt = ScriptedPsp.Base + PspMmio.CmdRespOffset;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.EIO);
        _psp.FailReadsAt = null;
        _psp.FailWritesAt = ScriptedPsp.Base + PspMmio.CmdRespOffset;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.EIO);
        _psp.FailWritesAt = ScriptedPsp.Base + PspMmio.CmdBufferAddressLoOffset;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.EIO);
        mailbox.Dead.ShouldBeFalse();
        _psp.FailWritesAt = null;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void InInterruptMode_TheDoorbellAsksForIoc_AndTheWaitEndsOnTheInterrupt()
    {
        var mailbox = Mailbox();
        mailbox.EnableInterrupt().ShouldBe(MmioStatus.Ok);
        mailbox.InterruptMode.ShouldBeTrue();
        _psp.Writes.ShouldBe([(ScriptedPsp.Base + 0x10694, 2u), (ScriptedPsp.Base + 0x10690, 2u)]);
        _clock.OnDelay = () =>
        {
            if (_clock.Delays != 2)
                return;
            _psp.InterruptStatus = 2;
            mailbox.HandleInterrupt();
        };
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Single().InterruptOnCompletion.ShouldBeTrue();
        // The handler checks RESP, the woken waiter reads cmdresp once more; the status was acknowledged.
        _psp.CmdRespReads.ShouldBe(2);
        _clock.Delays.ShouldBe(2);
        _psp.Writes.ShouldContain((ScriptedPsp.Base + 0x10694, 2u));
    }

    [Fact]
    public void ACompletionInterruptWithoutResp_DoesNotWakeTheWaiter()
    {
        _psp.Answers = false;
        var mailbox = Mailbox(timeoutNs: 10_000);
        mailbox.EnableInterrupt();
        _psp.InterruptStatus = 2;
        _clock.OnDelay = mailbox.HandleInterrupt;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.ETIMEDOUT);
        _psp.CmdRespReads.ShouldBe(_clock.Delays, "only the handler read cmdresp");
        mailbox.Dead.ShouldBeTrue();
    }

    [Fact]
    public void AnUnreadableCmdRespAfterTheWakeUp_IsEio()
    {
        var mailbox = Mailbox();
        mailbox.EnableInterrupt();
        _clock.OnDelay = () =>
        {
            _psp.InterruptStatus = 2;
            mailbox.HandleInterrupt();
            _psp.FailReadsAt = ScriptedPsp.Base + PspMmio.CmdRespOffset;
        };
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.EIO);
        _logs.Single(5005, LogLevel.Error);
        mailbox.Dead.ShouldBeFalse();
    }

    [Fact]
    public void AnInterruptThatIsNotACompletion_DoesNotEndTheWait()
    {
        var mailbox = Mailbox(timeoutNs: 10_000);
        mailbox.EnableInterrupt().ShouldBe(MmioStatus.Ok);
        _clock.OnDelay = mailbox.HandleInterrupt;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.ETIMEDOUT);
        _psp.CmdRespReads.ShouldBe(0);
    }

    [Fact]
    public void AFailedInterruptEnable_LeavesPolling()
    {
        _psp.FailWritesAt = ScriptedPsp.Base + PspMmio.InterruptEnableOffset;
        var mailbox = Mailbox();
        mailbox.EnableInterrupt().ShouldBe(MmioStatus.NoDevice);
        _psp.FailWritesAt = null;
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.Ok);
        _psp.Commands.Single().InterruptOnCompletion.ShouldBeFalse();
    }

    [Fact]
    public void AnUnreadableInterruptStatus_IsIgnored()
    {
        var mailbox = Mailbox(timeoutNs: 10_000);
        mailbox.EnableInterrupt();
        _psp.InterruptStatus = 2;
        _psp.FailReadsAt = ScriptedPsp.Base + PspMmio.InterruptStatusOffset;
        int writes = _psp.Writes.Count;
        mailbox.HandleInterrupt();
        _psp.Writes.Count.ShouldBe(writes);
        mailbox.DoCmd(SevCommandId.SnpDfFlush, 0, out _).ShouldBe(Errno.ETIMEDOUT);
    }

    [Fact]
    public void NullArguments_AreBugs()
    {
        var config = new SevDeviceConfig();
        var logger = _logs.CreateLogger("psp");
        Should.Throw<ArgumentNullException>(() => new PspMailbox(null!, _clock, config, logger));
        Should.Throw<ArgumentNullException>(() => new PspMailbox(_psp.Mmio.Object, null!, config, logger));
        Should.Throw<ArgumentNullException>(() => new PspMailbox(_psp.Mmio.Object, _clock, null!, logger));
        Should.Throw<ArgumentNullException>(() => new PspMailbox(_psp.Mmio.Object, _clock, config, null!));
    }
}
