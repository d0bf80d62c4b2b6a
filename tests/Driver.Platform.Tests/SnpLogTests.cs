using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Tests;

/// <summary>What RMPUPDATE and PSMASH log (event ids 2100-2199).</summary>
public class SnpLogTests
{
    private const ulong Page = 0x4000_0000;

    private static (Machine M, SnpCpu Cpu, CapturedLogs Logs) Build()
    {
        var m = new Machine();
        var logs = new CapturedLogs();
        return (m, new SnpCpu(m.Rmp, m.Scheduler, m.Costs, logs), logs);
    }

    [Theory]
    [InlineData(Page + 0x800, false, RmpUpdateResult.Input, LogLevel.Warning, "spa not aligned to the page size")]
    [InlineData(0x10_0000_0000UL, false, RmpUpdateResult.Input, LogLevel.Warning, "spa beyond the RMP")]
    [InlineData(Page + 0x3000, false, RmpUpdateResult.Overlap, LogLevel.Debug, "4K update inside a 2M entry")]
    public void A_refused_rmpupdate_logs_its_result_and_reason(ulong spa, bool size2M, RmpUpdateResult result, LogLevel level, string reason)
    {
        var (m, cpu, logs) = Build();
        m.Rmp.WriteRun(Page >> 12, default, as2M: true);
        cpu.Rmpupdate(spa, new RmpUpdateArgs(0, false, size2M, false, 0)).ShouldBe(result);
        var record = logs.WithId(2100).ShouldHaveSingleItem();
        record.Level.ShouldBe(level);
        record.GetStructuredStateValue("Spa").ShouldBe(spa.ToString());
        record.GetStructuredStateValue("PageSize2M").ShouldBe(size2M.ToString());
        record.GetStructuredStateValue("Result").ShouldBe(result.ToString());
        record.GetStructuredStateValue("Reason").ShouldBe(reason);
        logs.WithId(2102).ShouldBeEmpty();
    }

    [Fact]
    public void Every_operand_refusal_names_its_own_reason()
    {
        var (m, cpu, logs) = Build();
        cpu.Rmpupdate(Page, new RmpUpdateArgs(0, false, false, false, 3)).ShouldBe(RmpUpdateResult.Input);
        cpu.Rmpupdate(Page, new RmpUpdateArgs(0x10, true, false, false, 3)).ShouldBe(RmpUpdateResult.Input);
        cpu.Rmpupdate(Page, new RmpUpdateArgs(1UL << 51, true, false, false, 3)).ShouldBe(RmpUpdateResult.Input);
        cpu.Rmpupdate(Page, new RmpUpdateArgs(0, true, false, false, 0x400)).ShouldBe(RmpUpdateResult.Input);
        m.Rmp.Write(Page >> 12, RmpStates.Firmware());
        cpu.Rmpupdate(Page, default).ShouldBe(RmpUpdateResult.Permission);
        m.Rmp.Write(Page >> 12, default(RmpEntry).WithLock(true));
        cpu.Rmpupdate(Page, default).ShouldBe(RmpUpdateResult.InUse);
        m.Rmp.Write(Page >> 12, default);
        m.Rmp.Write((Page >> 12) + 4, RmpStates.Firmware());
        cpu.Rmpupdate(Page, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Permission);
        m.Rmp.Write((Page >> 12) + 4, default(RmpEntry).WithAssigned(true));
        cpu.Rmpupdate(Page, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Overlap);
        logs.WithId(2100).Select(r => r.GetStructuredStateValue("Reason")).ShouldBe(
        [
            "an asid for an unassigned page", "gpa not aligned to the page size", "gpa beyond the entry's field",
            "asid beyond the entry's field", "entry immutable", "entry locked", "an entry of the 2M run is immutable",
            "the 4K entries of the run differ",
        ]);
        logs.WithId(2100).Select(r => r.Level).ShouldBe(
            [LogLevel.Warning, LogLevel.Warning, LogLevel.Warning, LogLevel.Warning, LogLevel.Warning, LogLevel.Debug, LogLevel.Warning, LogLevel.Debug]);
    }

    [Fact]
    public void A_successful_rmpupdate_logs_at_trace_only()
    {
        var (_, cpu, logs) = Build();
        cpu.Rmpupdate(Page, new RmpUpdateArgs(0x20_0000, true, true, false, 9)).ShouldBe(RmpUpdateResult.Success);
        var record = logs.WithId(2102).ShouldHaveSingleItem();
        record.Level.ShouldBe(LogLevel.Trace);
        record.GetStructuredStateValue("Asid").ShouldBe("9");
        record.GetStructuredStateValue("Assigned").ShouldBe("True");
        logs.Collector.GetSnapshot().ShouldAllBe(r => r.Level == LogLevel.Trace);
    }

    [Fact]
    public void Psmash_logs_refusals_with_reason_and_success_at_trace()
    {
        var (m, cpu, logs) = Build();
        cpu.Psmash(0x10_0000_0000).ShouldBe(PsmashResult.BadAddress);
        cpu.Psmash(Page + 0x1000).ShouldBe(PsmashResult.Input);
        cpu.Psmash(Page).ShouldBe(PsmashResult.Input);
        m.Rmp.Write(Page >> 12, default(RmpEntry).WithPageSize(true).WithLock(true));
        cpu.Psmash(Page).ShouldBe(PsmashResult.InUse);
        m.Rmp.Write(Page >> 12, RmpStates.Firmware().WithPageSize(true));
        cpu.Psmash(Page).ShouldBe(PsmashResult.Permission);
        m.Rmp.Write(Page >> 12, default(RmpEntry).WithPageSize(true));
        cpu.Psmash(Page).ShouldBe(PsmashResult.Success);
        var refused = logs.WithId(2101);
        refused.Select(r => r.GetStructuredStateValue("Result")).ShouldBe(["BadAddress", "Input", "Input", "InUse", "Permission"]);
        refused.Select(r => r.GetStructuredStateValue("Reason")).ShouldBe(
            ["spa beyond the RMP", "spa not 2M aligned", "not a 2M entry", "entry locked", "entry immutable"]);
        refused.Select(r => r.Level).ShouldBe([LogLevel.Warning, LogLevel.Warning, LogLevel.Warning, LogLevel.Debug, LogLevel.Warning]);
        refused[0].GetStructuredStateValue("Spa").ShouldBe(0x10_0000_0000UL.ToString());
        logs.WithId(2103).ShouldHaveSingleItem().Level.ShouldBe(LogLevel.Trace);
    }

    [Fact]
    public void Without_a_factory_nothing_is_logged_and_the_cpu_still_answers()
    {
        var m = new Machine();
        var cpu = new SnpCpu(m.Rmp, m.Scheduler, m.Costs);
        cpu.Rmpupdate(Page + 1, default).ShouldBe(RmpUpdateResult.Input);
        cpu.Rmpupdate(Page, default).ShouldBe(RmpUpdateResult.Success);
    }
}
