using Driver.Hw.Sev;
using Driver.Kernel.Psp;
using Driver.Platform;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>
/// The PSP driver on the machine's PSP interrupt line (Linux psp_irq_handler and the
/// wait_event_timeout of sev_wait_cmd_ioc) beside the same commands polled.
/// </summary>
public sealed class PspInterruptMachineTests
{
    [Fact]
    public void WithTheLine_EveryCommandAsksForIoc_AndIsWokenByItsInterrupt()
    {
        var rig = new PspRig(interrupts: true);
        rig.Sev.Mailbox.InterruptMode.ShouldBeTrue();
        rig.Up();
        long commands = rig.Machine.Psp.CommandsCompleted;
        commands.ShouldBeGreaterThan(0);
        rig.Machine.Psp.InterruptCount.ShouldBe(commands);
        rig.Machine.Interrupts.Delivered.ShouldBe(commands);
        rig.Machine.Interrupts.Spurious.ShouldBe(0);
        rig.Machine.Interrupts.HasPending.ShouldBeFalse();
        rig.PlatformStatus().State.ShouldBe((byte)1);
    }

    [Fact]
    public void TheInterrupt_EndsTheWaitWhenTheFirmwareFinishes_WherePollingWaitsForItsNextRead()
    {
        long Elapsed(bool interrupts)
        {
            var rig = new PspRig(interrupts: interrupts);
            rig.Up();
            long start = rig.Machine.Clock.NowNs;
            rig.Sev.DoCmd(SevCommandId.SnpDfFlush, [], out var status).ShouldBe(Errno.Ok);
            status.ShouldBe(SevStatus.Success);
            return rig.Machine.Clock.NowNs - start;
        }

        var costs = new Driver.Platform.Time.CostModel();
        long woken = Elapsed(interrupts: true);
        long polled = Elapsed(interrupts: false);
        // Three register writes, the command's time, the handler's reads and writes, one read of cmdresp.
        woken.ShouldBeInRange(costs.PspCommandNs, costs.PspCommandNs + (8 * costs.MmioAccessNs));
        polled.ShouldBeGreaterThan(woken);
    }

    [Fact]
    public void WithoutTheLine_TheDriverPolls_AndThePspRaisesNothing()
    {
        var rig = new PspRig();
        rig.Sev.Mailbox.InterruptMode.ShouldBeFalse();
        rig.Up();
        rig.Machine.Psp.InterruptCount.ShouldBe(0);
        rig.Machine.Interrupts.Delivered.ShouldBe(0);
    }

    [Fact]
    public void ALostInterrupt_IsATimeout_AsLinuxsWaitGivesUp_AndThePspIsDead()
    {
        var rig = new PspRig(config: new SevDeviceConfig { MmioBase = Machine.PspMmioBase, Irq = Machine.PspIrq, CommandTimeoutNs = 5_000_000 }, interrupts: true);
        // Firmware completes the command, but with the enable cleared no interrupt reaches the driver.
        rig.Machine.Mmio.Write32(Machine.PspMmioBase + PspMmio.InterruptEnableOffset, 0);
        long start = rig.Machine.Clock.NowNs;
        rig.Sev.DoCmd(SevCommandId.SnpDfFlush, [], out _).ShouldBe(Errno.ETIMEDOUT);
        (rig.Machine.Clock.NowNs - start).ShouldBeInRange(5_000_000, 5_000_000 + 1_000);
        rig.Machine.Psp.CommandsCompleted.ShouldBe(1);
        rig.Sev.Mailbox.Dead.ShouldBeTrue();
        rig.Logs.Single(5002, LogLevel.Error).Message.ShouldContain("SnpDfFlush");
        rig.Sev.DoCmd(SevCommandId.SnpDfFlush, [], out _).ShouldBe(Errno.EBUSY);
    }

    [Fact]
    public void ALineThatIsTaken_FailsTheProbe_WithTheLogLine()
    {
        var rig = new PspRig(interrupts: true);
        // The probed device holds the line: a second driver for the same PSP cannot take it.
        var second = rig.NewDevice();
        second.Probe().ShouldBe(Errno.EBUSY);
        rig.Logs.Single(5006, LogLevel.Error).Message.ShouldContain(Machine.PspIrq.ToString(System.Globalization.CultureInfo.InvariantCulture));
        second.Probed.ShouldBeFalse();
    }
}
