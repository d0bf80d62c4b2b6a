using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Snp;

namespace Driver.Platform.Tests;

/// <summary>The 2 MiB run rules in one place: the writer, the named checks, and where RMPUPDATE and UNSMASH differ.</summary>
public class RmpRunTests
{
    private const ulong Spa = 0x4000_0000;
    private const ulong Head = Spa >> 12;

    private static Machine Build() => new();

    private static SevStatus Unsmash(Machine m) =>
        PspCall(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(Spa).Raw);

    private static SevStatus PspCall(Machine m, SevCommandId id, ulong word)
    {
        PspMailbox.WriteWords(m, PspMailbox.Buffer, word);
        return PspMailbox.Call(m, id);
    }

    // 512 4K entries of one guest page state with consecutive GPAs from 2 MiB.
    private static void GuestRun(Machine m, ushort asid = 6)
    {
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write(Head + i, default(RmpEntry).WithAssigned(true).WithAsid(asid).WithGpa(0x20_0000 + (i << 12)));
    }

    [Fact]
    public void The_page_size_constants_agree()
    {
        SnpPageSize.Size4K.ShouldBe(1UL << 12);
        SnpPageSize.Size2M.ShouldBe(SnpPageSize.Size4K * SnpPageSize.EntriesPer2M);
        SnpPageSize.Size1G.ShouldBe(SnpPageSize.Size2M * 512);
        RmpTable.PagesPer2M.ShouldBe(512);
        SnpPageSize.HeadPfn(Head + 511).ShouldBe(Head);
        SnpPageSize.HeadPfn(Head + 512).ShouldBe(Head + 512);
        SnpPageSize.IsAligned(Spa, SnpPageSize.Size2M).ShouldBeTrue();
        SnpPageSize.IsAligned(Spa + 0x1000, SnpPageSize.Size2M).ShouldBeFalse();
    }

    [Fact]
    public void Write_run_writes_512_entries_with_consecutive_gpas_and_notifies_once()
    {
        var m = Build();
        var changes = new List<(ulong, ulong)>();
        m.Rmp.Changed += (first, last) => changes.Add((first, last));
        var head = default(RmpEntry).WithAssigned(true).WithAsid(3).WithGpa(0x60_0000).WithVmplPermissions(0x0F);
        m.Rmp.WriteRun(Head, head, as2M: true);
        changes.ShouldBe([(Spa, Spa + 0x1F_FFFF)]);
        for (ulong i = 0; i < 512; i += 51)
        {
            var e = m.Rmp.Read(Head + i);
            e.PageSize.ShouldBeTrue();
            e.Gpa.ShouldBe(0x60_0000 + (i << 12));
            e.Asid.ShouldBe((ushort)3);
            e.VmplPermissions.ShouldBe(0x0FUL);
        }
        m.Rmp.Read(Head + 511).ShouldBe(RmpTable.RunEntry(head, true, 511));
        m.Rmp.Read(Head + 512).ShouldBe(default(RmpEntry), "the next run is untouched");
        m.Rmp.WriteRun(Head, RmpStates.Firmware(), as2M: false);
        m.Rmp.Read(Head + 7).ShouldBe(RmpStates.Firmware(), "firmware pages map no guest memory: GPA 0");
        m.Rmp.WriteRun(Head, RmpStates.Reclaim().WithGpa(0x1000), as2M: false);
        m.Rmp.Read(Head + 7).Gpa.ShouldBe(0x1000UL, "not a guest's run: no consecutive GPAs");
    }

    [Fact]
    public void A_run_entry_gpa_wraps_inside_its_field_instead_of_throwing()
    {
        var head = default(RmpEntry).WithAssigned(true).WithAsid(1).WithGpa((1UL << 51) - 0x1000);
        RmpTable.RunEntry(head, true, 0).Gpa.ShouldBe((1UL << 51) - 0x1000);
        RmpTable.RunEntry(head, true, 1).Gpa.ShouldBe(0UL);
        RmpTable.RunEntry(head, true, 3).Gpa.ShouldBe(0x2000UL);
        RmpTable.GpaFits((1UL << 51) - 1).ShouldBeTrue();
        RmpTable.GpaFits(1UL << 51).ShouldBeFalse();
    }

    [Fact]
    public void Is_one_2m_entry_reads_the_head_only()
    {
        var m = Build();
        m.Rmp.IsOne2MEntry(Head).ShouldBeFalse();
        m.Rmp.Write(Head + 1, default(RmpEntry).WithPageSize(true));
        m.Rmp.IsOne2MEntry(Head).ShouldBeFalse();
        m.Rmp.Write(Head, default(RmpEntry).WithPageSize(true));
        m.Rmp.IsOne2MEntry(Head).ShouldBeTrue();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(511)]
    public void Any_immutable_and_none_assigned_look_at_every_entry(int index)
    {
        var m = Build();
        m.Rmp.AnyImmutable(Head).ShouldBeFalse();
        m.Rmp.NoneAssigned(Head).ShouldBeTrue();
        m.Rmp.Write(Head + (ulong)index, RmpStates.Firmware());
        m.Rmp.AnyImmutable(Head).ShouldBeTrue();
        m.Rmp.NoneAssigned(Head).ShouldBeFalse();
        m.Rmp.Write(Head + (ulong)index, RmpStates.Reclaim());
        m.Rmp.AnyImmutable(Head).ShouldBeFalse();
        m.Rmp.NoneAssigned(Head).ShouldBeFalse();
    }

    [Theory]
    [InlineData(nameof(RmpEntry.Assigned), false)]
    [InlineData(nameof(RmpEntry.Asid), false)]
    [InlineData(nameof(RmpEntry.Validated), false)]
    [InlineData(nameof(RmpEntry.Vmsa), false)]
    [InlineData(nameof(RmpEntry.Immutable), true)]
    [InlineData(nameof(RmpEntry.VmplPermissions), true)]
    [InlineData(nameof(RmpEntry.Gpa), true)]
    public void Rmpupdate_compares_the_page_state_unsmash_every_field_it_keeps(string field, bool pageStateStillShared)
    {
        var m = Build();
        GuestRun(m);
        m.Rmp.AllShareHeadPageState(Head).ShouldBeTrue();
        m.Rmp.AllFoldIntoHead(Head).ShouldBeTrue();
        var e = m.Rmp.Read(Head + 300);
        m.Rmp.Write(Head + 300, field switch
        {
            nameof(RmpEntry.Assigned) => e.WithAssigned(false).WithAsid(0).WithGpa(0),
            nameof(RmpEntry.Asid) => e.WithAsid(7),
            nameof(RmpEntry.Validated) => e.WithValidated(true),
            nameof(RmpEntry.Vmsa) => e.WithVmsa(true),
            nameof(RmpEntry.Immutable) => e.WithImmutable(true),
            nameof(RmpEntry.VmplPermissions) => e.WithVmplPermissions(1),
            _ => e.WithGpa(0x1000),
        });
        m.Rmp.AllShareHeadPageState(Head).ShouldBe(pageStateStillShared);
        m.Rmp.AllFoldIntoHead(Head).ShouldBeFalse();
    }

    [Fact]
    public void Unsmash_needs_a_2m_aligned_head_gpa_for_a_guests_run_only()
    {
        var m = Build();
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write(Head + i, default(RmpEntry).WithAssigned(true).WithAsid(2).WithGpa(0x1000 + (i << 12)));
        m.Rmp.AllShareHeadPageState(Head).ShouldBeTrue();
        m.Rmp.AllFoldIntoHead(Head).ShouldBeFalse();
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write(Head + i, default(RmpEntry).WithGpa(i * 0x3000));
        m.Rmp.AllFoldIntoHead(Head).ShouldBeTrue("an unassigned run's GPAs mean nothing");
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write(Head + i, RmpStates.Reclaim().WithGpa(0x1000 + (i * 0x3000)));
        m.Rmp.AllFoldIntoHead(Head).ShouldBeTrue("nor do a reclaim run's");
    }

    [Fact]
    public void A_run_differing_only_in_gpa_is_a_2m_rmpupdate_but_not_an_unsmash()
    {
        var m = PspMailbox.SnpMachine().Machine;
        GuestRun(m);
        m.Rmp.Write(Head + 9, m.Rmp.Read(Head + 9).WithGpa(0));
        Unsmash(m).ShouldBe(SevStatus.InvalidPageState);
        m.Rmp.Read(Head).PageSize.ShouldBeFalse();
        m.Cpu.Rmpupdate(Spa, new RmpUpdateArgs(0x40_0000, true, true, false, 6)).ShouldBe(RmpUpdateResult.Success);
        m.Rmp.Read(Head + 9).Gpa.ShouldBe(0x40_9000UL);
    }

    [Fact]
    public void An_immutable_uniform_run_is_an_unsmash_but_not_a_2m_rmpupdate()
    {
        var m = PspMailbox.SnpMachine().Machine;
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write(Head + i, RmpStates.Firmware());
        m.Cpu.Rmpupdate(Spa, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Permission);
        Unsmash(m).ShouldBe(SevStatus.Success);
        m.Rmp.ReadEffective(Head + 77, out bool is2M).ShouldBe(RmpStates.Firmware().WithPageSize(true));
        is2M.ShouldBeTrue();
    }

    [Fact]
    public void A_2m_rmpupdate_refuses_an_immutable_follower_even_when_the_states_agree()
    {
        var m = Build();
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write(Head + i, RmpStates.Reclaim());
        m.Rmp.Write(Head + 200, RmpStates.Firmware());
        m.Rmp.AllShareHeadPageState(Head).ShouldBeTrue("Firmware and Reclaim differ only in Immutable");
        m.Cpu.Rmpupdate(Spa, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Permission);
        m.Rmp.Read(Head + 200).ShouldBe(RmpStates.Firmware());
    }

    [Fact]
    public void Split_and_merge_keep_the_heads_state_through_write_run()
    {
        var m = Build();
        var head = default(RmpEntry).WithAssigned(true).WithAsid(4).WithValidated(true).WithGpa(0x80_0000).WithPageSize(true);
        m.Rmp.WriteRun(Head, head, as2M: true);
        m.Rmp.Split(Head);
        m.Rmp.Read(Head + 3).ShouldBe(head.WithPageSize(false).WithGpa(0x80_3000));
        m.Rmp.AllFoldIntoHead(Head).ShouldBeTrue("a smashed run folds back");
        m.Rmp.Merge(Head);
        m.Rmp.Read(Head + 3).ShouldBe(head.WithGpa(0x80_3000));
    }
}
