using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Tests;

/// <summary>PVALIDATE, the guest's SNP instruction: return codes, the nested page fault cases, and its RMP change.</summary>
public class SnpGuestCpuTests
{
    private const ulong Spa = 0x4000_0000;
    private const ulong Gpa = 0x20_0000;
    private const ushort Asid = 5;

    private static Machine Guest2M(out ISnpGuestCpu cpu, MachineConfig? config = null)
    {
        var m = new Machine(config);
        m.Cpu.Rmpupdate(Spa, new RmpUpdateArgs(Gpa, true, true, false, Asid)).ShouldBe(RmpUpdateResult.Success);
        cpu = m.GuestCpu(Asid);
        cpu.Asid.ShouldBe(Asid);
        return m;
    }

    [Fact]
    public void A_2m_validation_marks_the_whole_run_and_a_second_one_changes_nothing()
    {
        var m = Guest2M(out var cpu);
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.Success);
        m.Rmp.ReadEffective((Spa >> 12) + 300, out bool is2M).Validated.ShouldBeTrue();
        is2M.ShouldBeTrue();
        m.Rmp.Read((Spa >> 12) + 511).Validated.ShouldBeTrue("every entry of the run carries the state");
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.NoUpdate);
        cpu.Pvalidate(Gpa, Spa, true, false).ShouldBe(PvalidateResult.Success);
        m.Rmp.Read(Spa >> 12).Validated.ShouldBeFalse();
        cpu.Pvalidate(Gpa, Spa, true, false).ShouldBe(PvalidateResult.NoUpdate);
    }

    [Fact]
    public void A_2m_validation_over_4k_entries_is_a_size_mismatch_and_changes_nothing()
    {
        var m = Guest2M(out var cpu);
        m.Cpu.Psmash(Spa).ShouldBe(PsmashResult.Success);
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.FailSizeMismatch);
        m.Rmp.Read(Spa >> 12).Validated.ShouldBeFalse();
        cpu.Pvalidate(Gpa + 0x3000, Spa + 0x3000, false, true).ShouldBe(PvalidateResult.Success, "the guest falls back to 4K, as Linux does");
        m.Rmp.Read((Spa >> 12) + 3).Validated.ShouldBeTrue();
        m.Rmp.Read((Spa >> 12) + 4).Validated.ShouldBeFalse();
    }

    [Fact]
    public void A_4k_validation_inside_a_2m_entry_is_a_nested_page_fault()
    {
        var m = Guest2M(out var cpu);
        cpu.Pvalidate(Gpa + 0x1000, Spa + 0x1000, false, true).ShouldBe(PvalidateResult.NestedPageFault);
        m.Rmp.Read(Spa >> 12).Validated.ShouldBeFalse();
    }

    [Theory]
    [InlineData(Gpa + 0x1000, Spa, true)]
    [InlineData(Gpa, Spa + 0x1000, true)]
    [InlineData(Gpa + 0x10, Spa, false)]
    [InlineData(Gpa, Spa + 0x800, false)]
    public void A_misaligned_address_is_fail_input(ulong gpa, ulong spa, bool pageSize2M)
    {
        var m = Guest2M(out var cpu);
        cpu.Pvalidate(gpa, spa, pageSize2M, true).ShouldBe(PvalidateResult.FailInput);
        m.Rmp.Read(Spa >> 12).Validated.ShouldBeFalse();
    }

    [Fact]
    public void Another_guests_page_a_wrong_gpa_a_hypervisor_or_immutable_page_is_a_nested_page_fault()
    {
        var m = Guest2M(out var cpu);
        m.GuestCpu(6).Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.NestedPageFault);
        cpu.Pvalidate(Gpa + 0x20_0000, Spa, true, true).ShouldBe(PvalidateResult.NestedPageFault);
        cpu.Pvalidate(Gpa, Spa + 0x20_0000, true, true).ShouldBe(PvalidateResult.NestedPageFault, "a hypervisor page");
        m.Cpu.Rmpupdate(Spa + 0x40_0000, new RmpUpdateArgs(Gpa, true, false, true, Asid)).ShouldBe(RmpUpdateResult.Success);
        cpu.Pvalidate(Gpa, Spa + 0x40_0000, false, true).ShouldBe(PvalidateResult.NestedPageFault, "a pre-guest page");
        cpu.Pvalidate(Gpa, m.Rmp.CoveredBytes, false, true).ShouldBe(PvalidateResult.NestedPageFault, "beyond the RMP");
        m.GuestCpu(0).Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.NestedPageFault, "no guest runs with ASID 0");
        m.Rmp.Read(Spa >> 12).Validated.ShouldBeFalse();
    }

    [Fact]
    public void Pvalidate_takes_the_instruction_time_and_logs_refusals_with_the_reason()
    {
        var logs = new CapturedLogs();
        var m = Guest2M(out var cpu, new MachineConfig { LoggerFactory = logs });
        long before = m.Clock.NowNs;
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.Success);
        (m.Clock.NowNs - before).ShouldBe(m.Costs.RmpInstructionNs);
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.NoUpdate);
        m.Cpu.Psmash(Spa).ShouldBe(PsmashResult.Success);
        cpu.Pvalidate(Gpa, Spa, true, false).ShouldBe(PvalidateResult.FailSizeMismatch);
        var refused = logs.WithId(2104);
        refused.Select(r => r.Level).ShouldBe([LogLevel.Debug, LogLevel.Warning]);
        refused[1].GetStructuredStateValue("Result").ShouldBe(nameof(PvalidateResult.FailSizeMismatch));
        refused[1].GetStructuredStateValue("Reason").ShouldBe("2M validation over 4K entries");
        logs.WithId(2105).ShouldHaveSingleItem().Level.ShouldBe(LogLevel.Trace);
    }

    [Theory]
    [InlineData(5, Gpa + 0x10, Spa, false, "address not aligned to the page size")]
    [InlineData(0, Gpa, Spa, true, "no guest (ASID 0)")]
    [InlineData(5, Gpa, 0x10_0000_0000UL, false, "spa beyond the RMP")]
    [InlineData(6, Gpa, Spa, true, "not this guest's page at this address")]
    [InlineData(5, Gpa, Spa, false, "4K validation inside a 2M entry")]
    public void Each_refusal_logs_why(int asid, ulong gpa, ulong spa, bool pageSize2M, string reason)
    {
        var logs = new CapturedLogs();
        var m = Guest2M(out _, new MachineConfig { LoggerFactory = logs });
        m.GuestCpu((ushort)asid).Pvalidate(gpa, spa, pageSize2M, true).ShouldNotBe(PvalidateResult.Success);
        logs.WithId(2104).ShouldHaveSingleItem().GetStructuredStateValue("Reason").ShouldBe(reason);
    }

    [Fact]
    public void A_second_validation_logs_that_nothing_changed()
    {
        var logs = new CapturedLogs();
        var m = Guest2M(out var cpu, new MachineConfig { LoggerFactory = logs });
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.Success);
        cpu.Pvalidate(Gpa, Spa, true, true).ShouldBe(PvalidateResult.NoUpdate);
        logs.WithId(2104).ShouldHaveSingleItem().GetStructuredStateValue("Reason").ShouldBe("already in that state");
        m.Rmp.Read(Spa >> 12).Validated.ShouldBeTrue();
    }

    [Fact]
    public void A_validation_notifies_the_changed_pages()
    {
        var m = Guest2M(out var cpu);
        m.Cpu.Psmash(Spa).ShouldBe(PsmashResult.Success);
        var changes = new List<(ulong, ulong)>();
        m.Rmp.Changed += (first, last) => changes.Add((first, last));
        cpu.Pvalidate(Gpa + 0x5000, Spa + 0x5000, false, true).ShouldBe(PvalidateResult.Success);
        changes.ShouldBe([(Spa + 0x5000, Spa + 0x5FFF)]);
        m.Rmp.Read((Spa >> 12) + 5).GetWord(0).ShouldBe(default(RmpEntry).WithAssigned(true).WithAsid(Asid).WithGpa(Gpa + 0x5000).WithValidated(true).GetWord(0));
    }
}
