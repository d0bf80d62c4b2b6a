using Driver.Platform.Iommu;
using Driver.Platform.Snp;
using Driver.Platform.Time;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>The SNP part on its own: enforcement and lock, stalls that expire, and the RMP check's two rules.</summary>
public class SnpControlsTests
{
    private static (SnpControls Snp, Scheduler Scheduler, RmpTable Rmp, Logs Logs) Build(RmpGranularity rule = RmpGranularity.AmdToday)
    {
        var memory = new Platform.Memory.PhysicalMemory();
        var scheduler = new Scheduler(new SimClock());
        var rmp = new RmpTable(memory, 0x10_0000_0000, 0x4000_0000);
        var logs = new Logs();
        return (new SnpControls(rmp, scheduler, new CostModel(), rule, logs.Factory.CreateLogger("snp")), scheduler, rmp, logs);
    }

    [Fact]
    public void Enforcement_locks_the_configuration_and_says_so()
    {
        var (snp, _, _, logs) = Build();
        snp.Enforced.ShouldBeFalse();
        snp.Enforce(true);
        snp.Enforced.ShouldBeTrue();
        snp.ConfigLocked.ShouldBeTrue();
        snp.Enforce(false);
        snp.ConfigLocked.ShouldBeFalse();
        logs.All.Select(r => r.GetStructuredStateValue("On")).ShouldBe([bool.TrueString, bool.FalseString]);
    }

    [Fact]
    public void A_stall_holds_its_range_until_it_ends_and_is_then_forgotten()
    {
        var (snp, scheduler, _, _) = Build();
        snp.AnyStall.ShouldBeFalse();
        snp.Stall(0x1000, 0x1FFF, 500);
        snp.AnyStall.ShouldBeTrue();
        snp.StalledUntil(0x0FFF).ShouldBeNull();
        snp.StalledUntil(0x1000).ShouldBe(500);
        snp.StalledUntil(0x1FFF).ShouldBe(500);
        snp.StalledUntil(0x2000).ShouldBeNull();
        scheduler.Delay(499);
        snp.StalledUntil(0x1800).ShouldBe(500);
        scheduler.Delay(1);
        snp.StalledUntil(0x1800).ShouldBeNull();
        snp.AnyStall.ShouldBeFalse();
    }

    [Fact]
    public void The_check_costs_one_read_and_follows_the_granularity_rule()
    {
        var (snp, _, rmp, logs) = Build();
        long cost = 0;
        snp.Check(1, 0, 0x20_0000, 21, sizeRule: true, ref cost).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.SizeMismatch, 0));
        cost.ShouldBe(new CostModel().IommuMemoryAccessNs);
        logs.Single(2008).Value("Flags").ShouldBe(nameof(RmpFaultFlags.SizeMismatch));
        snp.Check(1, 0, 0x20_0000, 21, sizeRule: false, ref cost).ShouldBe(RmpCheckResult.Allow(12));
        snp.Check(1, 0, 0x20_0000, 12, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(12));
        rmp.Write(0x200, new Hw.Sev.RmpEntry([0, 0]).WithPageSize(true));
        snp.Check(1, 0, 0x20_0000, 30, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(21));
        snp.Check(1, 0, 0x20_0000, 12, sizeRule: true, ref cost).Refused.ShouldBeTrue();
        rmp.Write(0x400, new Hw.Sev.RmpEntry([0, 0]).WithAssigned(true));
        snp.Check(1, 0x77, 0x40_0000, 12, sizeRule: false, ref cost).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.NotHypervisorOwned, 0));
        cost = 0;
        snp.Check(1, 0, 0x4000_0000, 30, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(21), "beyond the RMP: unchecked, at most 2M");
        cost.ShouldBe(0);
    }

    [Fact]
    public void Derive_smallest_never_refuses_on_size()
    {
        var (snp, _, rmp, _) = Build(RmpGranularity.DeriveSmallest);
        long cost = 0;
        snp.Check(1, 0, 0x20_0000, 21, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(12));
        rmp.Write(0x200, new Hw.Sev.RmpEntry([0, 0]).WithPageSize(true));
        snp.Check(1, 0, 0x20_0000, 30, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(21));
        snp.Check(1, 0, 0x20_0000, 12, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(12));
    }

    [Fact]
    public void Tdi_bindings_give_the_asid_and_are_undone_one_by_one_or_all_at_once()
    {
        var (snp, _, _, _) = Build();
        snp.BoundAsid(7).ShouldBe((ushort)0);
        snp.BindTdi(7, 5);
        snp.BindTdi(7, 6);
        snp.BindTdi(0xFFFF, 9);
        snp.BoundAsid(7).ShouldBe((ushort)6);
        snp.BoundAsid(0xFFFF).ShouldBe((ushort)9);
        snp.UnbindTdi(7);
        snp.UnbindTdi(7);
        snp.BoundAsid(7).ShouldBe((ushort)0);
        snp.BoundAsid(0xFFFF).ShouldBe((ushort)9);
        snp.UnbindAllTdis();
        snp.BoundAsid(0xFFFF).ShouldBe((ushort)0);
        snp.BindTdi(3, 2);
        snp.UnbindAllTdis();
        snp.BoundAsid(3).ShouldBe((ushort)0, "the count followed every bind and unbind");
    }

    [Fact]
    public void A_trusted_check_needs_the_asid_validation_and_gpa_of_the_bound_guest()
    {
        var (snp, _, rmp, logs) = Build();
        long cost = 0;
        var own = default(Hw.Sev.RmpEntry).WithAssigned(true).WithAsid(5).WithGpa(0x7000).WithValidated(true);
        rmp.Write(0x1000 >> 12, own);
        snp.Check(1, 0x7000, 0x1000, 12, sizeRule: true, ref cost, asid: 5).ShouldBe(RmpCheckResult.Allow(12));
        cost.ShouldBe(new CostModel().IommuMemoryAccessNs);
        snp.Check(1, 0x7fff, 0x1fff, 12, sizeRule: true, ref cost, asid: 5).Refused.ShouldBeFalse("the page, not the byte, is compared");
        snp.Check(1, 0x8000, 0x1000, 12, sizeRule: true, ref cost, asid: 5).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.GpaMismatch, 0));
        snp.Check(1, 0x7000, 0x1000, 12, sizeRule: true, ref cost, asid: 6).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.AsidMismatch, 0));
        snp.Check(1, 0x7000, 0x1000, 12, sizeRule: true, ref cost).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.NotHypervisorOwned, 0));
        rmp.Write(0x1000 >> 12, own.WithValidated(false));
        snp.Check(1, 0x7000, 0x1000, 12, sizeRule: true, ref cost, asid: 5).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.NotValidated, 0));
        snp.Check(1, 0x7000, 0x1000, 21, sizeRule: true, ref cost, asid: 5).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.NotValidated | RmpFaultFlags.SizeMismatch, 0));
        snp.Check(1, 0x7000, 0x2000, 12, sizeRule: true, ref cost, asid: 5).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.AsidMismatch, 0), "a hypervisor page");
        logs.All.Select(r => r.GetStructuredStateValue("Flags")).ShouldBe(["GpaMismatch", "AsidMismatch", "NotHypervisorOwned", "NotValidated", "SizeMismatch, NotValidated", "AsidMismatch"]);
    }

    [Fact]
    public void A_trusted_check_on_a_2m_entry_maps_the_run_from_the_heads_gpa()
    {
        var (snp, _, rmp, _) = Build();
        long cost = 0;
        rmp.WriteRun(0x20_0000 >> 12, default(Hw.Sev.RmpEntry).WithAssigned(true).WithAsid(5).WithGpa(0x60_0000).WithValidated(true), as2M: true);
        snp.Check(1, 0x60_0000 + 0x5_3000, 0x20_0000 + 0x5_3000, 21, sizeRule: true, ref cost, asid: 5).ShouldBe(RmpCheckResult.Allow(21));
        snp.Check(1, 0x60_0000 + 0x5_3000, 0x20_0000 + 0x5_4000, 21, sizeRule: true, ref cost, asid: 5).Flags.ShouldBe(RmpFaultFlags.GpaMismatch);
        snp.Check(1, 0x60_0000 + 0x1F_F000, 0x20_0000 + 0x1F_F000, 30, sizeRule: true, ref cost, asid: 5).ShouldBe(RmpCheckResult.Allow(21));
    }

    [Fact]
    public void The_unbound_refusal_and_the_test_only_switch()
    {
        var (snp, _, rmp, logs) = Build();
        snp.RefuseUnbound(4, 0x9000).ShouldBe(new RmpCheckResult(true, RmpFaultFlags.UnboundTdi, 0));
        logs.All.ShouldHaveSingleItem().GetStructuredStateValue("Iova").ShouldBe("36864");
        rmp.Write(0x3000 >> 12, default(Hw.Sev.RmpEntry).WithAssigned(true).WithAsid(2));
        long cost = 0;
        snp.BreakRmpCheckForTests = true;
        snp.Check(1, 0, 0x3000, 12, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(12));
        snp.Check(1, 0, 0x3000, 30, sizeRule: true, ref cost).ShouldBe(RmpCheckResult.Allow(21));
        cost.ShouldBe(0);
        snp.BreakRmpCheckForTests = false;
        snp.Check(1, 0, 0x3000, 12, sizeRule: true, ref cost).Refused.ShouldBeTrue();
    }

    [Fact]
    public void Tdis_are_bound_one_by_one_and_all_unbound_at_once()
    {
        var (snp, _, _, _) = Build();
        snp.BindTdi(0x31, 5);
        snp.BindTdi(0x32, 6);
        snp.UnbindTdi(0x33);
        snp.BoundAsid(0x31).ShouldBe((ushort)5);
        snp.UnbindTdi(0x31);
        snp.BoundAsid(0x31).ShouldBe((ushort)0);
        snp.BoundAsid(0x32).ShouldBe((ushort)6);
        snp.UnbindAllTdis();
        snp.BoundAsid(0x32).ShouldBe((ushort)0);
    }
}
