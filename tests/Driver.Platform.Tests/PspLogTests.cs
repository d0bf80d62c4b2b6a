using Driver.Hw.Sev;
using Driver.Platform.Psp;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Tests;

/// <summary>What the mailbox and the firmware log (event ids 2200-2299).</summary>
public class PspLogTests
{
    private static (DeviceRig D, CapturedLogs Logs) Build(bool init = true)
    {
        var logs = new CapturedLogs();
        var d = PspMailbox.SnpMachine(init, new MachineConfig { Psp = new PspConfig { LoggerFactory = logs } });
        return (d, logs);
    }

    [Theory]
    [InlineData(SevCommandId.SnpGctxCreate, PspMailbox.Buffer + 4, SevStatus.InvalidAddress)]
    [InlineData(SevCommandId.SnpPlatformStatus, 0x0010_0000_0000_0000UL, SevStatus.InvalidAddress)]
    [InlineData(SevCommandId.SnpLaunchStart, PspMailbox.Buffer, SevStatus.InvalidCommand)]
    [InlineData(SevCommandId.SnpInitEx, PspMailbox.Buffer, SevStatus.InvalidPlatformState)]
    public void A_firmware_error_is_a_warning_with_command_and_status(SevCommandId command, ulong buffer, SevStatus status)
    {
        var (d, logs) = Build();
        PspMailbox.WriteWords(d.Machine, PspMailbox.Buffer, 0);
        PspMailbox.Call(d.Machine, command, buffer).ShouldBe(status);
        var record = logs.WithId(2200).ShouldHaveSingleItem();
        record.Level.ShouldBe(LogLevel.Warning);
        record.GetStructuredStateValue("Command").ShouldBe(command.ToString());
        record.GetStructuredStateValue("Status").ShouldBe(status.ToString());
    }

    [Fact]
    public void Every_command_completion_is_debug_with_its_time_and_a_start_at_trace()
    {
        var (d, logs) = Build(init: false);
        var m = d.Machine;
        PspMailbox.InitEx(m).ShouldBe(SevStatus.Success);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush).ShouldBe(SevStatus.Success);
        logs.WithId(2200).ShouldBeEmpty("no error, no warning");
        var done = logs.WithId(2201);
        done.Select(r => r.GetStructuredStateValue("Command")).ShouldBe(["SnpInitEx", "SnpDfFlush"]);
        done.ShouldAllBe(r => r.Level == LogLevel.Debug && r.GetStructuredStateValue("Status") == "Success");
        done[0].GetStructuredStateValue("DurationNs").ShouldBe(m.Costs.PspInitNs.ToString());
        done[1].GetStructuredStateValue("DurationNs").ShouldBe(m.Costs.PspCommandNs.ToString());
        var started = logs.WithId(2202);
        started.Count.ShouldBe(2);
        started.ShouldAllBe(r => r.Level == LogLevel.Trace);
        started[0].GetStructuredStateValue("Buffer").ShouldBe(PspMailbox.Buffer.ToString());
        var platform = logs.WithId(2205).ShouldHaveSingleItem();
        platform.Level.ShouldBe(LogLevel.Information);
        platform.GetStructuredStateValue("Change").ShouldBe("initialised");
        platform.GetStructuredStateValue("IommuPages").ShouldBe("1");
    }

    [Fact]
    public void A_doorbell_while_busy_is_a_warning_naming_both_commands()
    {
        var (d, logs) = Build();
        var m = d.Machine;
        m.Mmio.Write32(Machine.PspMmioBase + PspMmio.CmdRespOffset, new PspCmdRespRegister(0).WithCommandId(SevCommandId.SnpDfFlush).Raw);
        m.Mmio.Write32(Machine.PspMmioBase + PspMmio.CmdRespOffset, new PspCmdRespRegister(0).WithCommandId(SevCommandId.SnpGctxCreate).Raw);
        var record = logs.WithId(2203).ShouldHaveSingleItem();
        record.Level.ShouldBe(LogLevel.Warning);
        record.GetStructuredStateValue("Running").ShouldBe("SnpDfFlush");
        record.GetStructuredStateValue("Command").ShouldBe("SnpGctxCreate");
    }

    [Fact]
    public void Shutdown_is_information_with_the_pages_still_held()
    {
        var (d, logs) = Build();
        PspMailbox.ShutdownEx(d.Machine, iommu: false).ShouldBe(SevStatus.Success);
        var record = logs.WithId(2205).Last();
        record.GetStructuredStateValue("Change").ShouldBe("shut down");
        record.GetStructuredStateValue("IommuPages").ShouldBe("1");
        var (other, otherLogs) = Build();
        PspMailbox.ShutdownEx(other.Machine).ShouldBe(SevStatus.Success);
        otherLogs.WithId(2205).Last().GetStructuredStateValue("IommuPages").ShouldBe("0");
    }
}
