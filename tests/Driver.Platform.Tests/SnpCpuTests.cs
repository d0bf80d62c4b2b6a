using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Snp;

namespace Driver.Platform.Tests;

public class SnpCpuTests
{
    private const ulong Page = 0x4000_0000;

    private static Machine Build() => new(new MachineConfig());

    private static RmpUpdateArgs Private(ulong gpa, bool size2M = false) => new(gpa, true, size2M, false, 5);

    private static RmpUpdateArgs Shared(bool size2M = false) => new(0, false, size2M, false, 0);

    [Fact]
    public void Rmpupdate_sets_a_4k_entry_and_clears_validated()
    {
        var m = Build();
        m.Rmp.Write(Page >> 12, default(RmpEntry).WithValidated(true));
        m.Cpu.Rmpupdate(Page, Private(0x8000)).ShouldBe(RmpUpdateResult.Success);
        var e = m.Rmp.Read(Page >> 12);
        e.Assigned.ShouldBeTrue();
        e.Asid.ShouldBe((ushort)5);
        e.Gpa.ShouldBe(0x8000UL);
        e.PageSize.ShouldBeFalse();
        e.Validated.ShouldBeFalse();
        RmpStates.Classify(e).ShouldBe(RmpState.GuestInvalid);
        m.Cpu.Rmpupdate(Page, Shared()).ShouldBe(RmpUpdateResult.Success);
        RmpStates.Classify(m.Rmp.Read(Page >> 12)).ShouldBe(RmpState.Hypervisor);
        m.SimClock.NowNs.ShouldBe(2 * m.Costs.RmpInstructionNs);
    }

    [Fact]
    public void Rmpupdate_2m_writes_all_512_entries()
    {
        var m = Build();
        m.Cpu.Rmpupdate(Page, Private(0x20_0000, size2M: true)).ShouldBe(RmpUpdateResult.Success);
        for (ulong i = 0; i < 512; i += 73)
        {
            var e = m.Rmp.Read((Page >> 12) + i);
            e.PageSize.ShouldBeTrue();
            e.Gpa.ShouldBe(0x20_0000 + (i << 12));
        }
        m.Rmp.ReadEffective((Page >> 12) + 7, out bool is2M).Asid.ShouldBe((ushort)5);
        is2M.ShouldBeTrue();
        m.Cpu.Rmpupdate(Page, Shared(size2M: true)).ShouldBe(RmpUpdateResult.Success);
        m.Rmp.Read((Page >> 12) + 511).Assigned.ShouldBeFalse();
    }

    [Theory]
    [InlineData(Page + 0x800, false, 0x0UL, (ushort)5, true)]
    [InlineData(Page + 0x1000, true, 0x0UL, (ushort)5, true)]
    [InlineData(Page, true, 0x1000UL, (ushort)5, true)]
    [InlineData(Page, false, 0x0UL, (ushort)5, false)]
    [InlineData(Page, false, 0x0UL, (ushort)0x400, true)]
    [InlineData(Page, false, 0x10UL, (ushort)5, true)]
    [InlineData(0x10_0000_0000UL, false, 0x0UL, (ushort)5, true)]
    public void Rmpupdate_rejects_bad_input(ulong spa, bool size2M, ulong gpa, ushort asid, bool assigned)
    {
        var m = Build();
        m.Cpu.Rmpupdate(spa, new RmpUpdateArgs(gpa, assigned, size2M, false, asid)).ShouldBe(RmpUpdateResult.Input);
        m.Rmp.Read(Page >> 12).Assigned.ShouldBeFalse();
    }

    [Fact]
    public void Immutable_and_locked_entries_refuse_rmpupdate()
    {
        var m = Build();
        m.Rmp.Write(Page >> 12, RmpStates.Firmware());
        m.Cpu.Rmpupdate(Page, Shared()).ShouldBe(RmpUpdateResult.Permission);
        m.Rmp.Write((Page >> 12) + 1, default(RmpEntry).WithLock(true));
        m.Cpu.Rmpupdate(Page + 0x1000, Shared()).ShouldBe(RmpUpdateResult.InUse);
        m.Cpu.Rmpupdate(Page, Shared(size2M: true)).ShouldBe(RmpUpdateResult.Permission);
    }

    [Fact]
    public void Overlap_a_4k_update_inside_a_2m_entry_or_a_2m_update_over_differing_4k_entries()
    {
        var m = Build();
        m.Cpu.Rmpupdate(Page, Private(0, size2M: true)).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Rmpupdate(Page + 0x3000, Shared()).ShouldBe(RmpUpdateResult.Overlap);
        m.Cpu.Rmpupdate(Page, Shared()).ShouldBe(RmpUpdateResult.Overlap);

        ulong other = Page + 0x20_0000;
        m.Cpu.Rmpupdate(other + 0x5000, Private(0x5000)).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Rmpupdate(other, Private(0, size2M: true)).ShouldBe(RmpUpdateResult.Overlap);
        m.Cpu.Rmpupdate(other + 0x5000, Shared()).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Rmpupdate(other, Private(0, size2M: true)).ShouldBe(RmpUpdateResult.Success);
    }

    [Theory]
    [InlineData(nameof(RmpEntry.Asid))]
    [InlineData(nameof(RmpEntry.Validated))]
    [InlineData(nameof(RmpEntry.Vmsa))]
    public void A_2m_update_needs_every_4k_entry_in_one_state(string field)
    {
        var m = Build();
        var odd = field switch
        {
            nameof(RmpEntry.Asid) => default(RmpEntry).WithAsid(3),
            nameof(RmpEntry.Validated) => default(RmpEntry).WithValidated(true),
            _ => default(RmpEntry).WithVmsa(true),
        };
        m.Rmp.Write((Page >> 12) + 9, odd);
        m.Cpu.Rmpupdate(Page, Shared(size2M: true)).ShouldBe(RmpUpdateResult.Overlap);
    }

    [Fact]
    public void Psmash_splits_a_2m_entry_keeping_its_state()
    {
        var m = Build();
        m.Cpu.Rmpupdate(Page, Private(0x4000_0000, size2M: true)).ShouldBe(RmpUpdateResult.Success);
        var head = m.Rmp.Read(Page >> 12).WithValidated(true);
        for (ulong i = 0; i < 512; i++)
            m.Rmp.Write((Page >> 12) + i, head.WithGpa(head.Gpa + (i << 12)));
        m.Cpu.Psmash(Page).ShouldBe(PsmashResult.Success);
        for (ulong i = 0; i < 512; i += 31)
        {
            var e = m.Rmp.Read((Page >> 12) + i);
            e.PageSize.ShouldBeFalse();
            e.Validated.ShouldBeTrue();
            e.Asid.ShouldBe((ushort)5);
            e.Gpa.ShouldBe(0x4000_0000 + (i << 12));
        }
        m.Cpu.Rmpupdate(Page + 0x3000, Shared()).ShouldBe(RmpUpdateResult.Success);
    }

    [Fact]
    public void Psmash_of_a_shared_2m_page_gives_zero_gpas()
    {
        var m = Build();
        m.Cpu.Rmpupdate(Page, Shared(size2M: true)).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Psmash(Page).ShouldBe(PsmashResult.Success);
        m.Rmp.Read((Page >> 12) + 3).ShouldBe(default(RmpEntry));
    }

    [Fact]
    public void Psmash_return_codes()
    {
        var m = Build();
        m.Cpu.Psmash(Page + 0x1000).ShouldBe(PsmashResult.Input);
        m.Cpu.Psmash(Page).ShouldBe(PsmashResult.Input, "not a 2M entry");
        m.Cpu.Psmash(0x10_0000_0000).ShouldBe(PsmashResult.BadAddress);
        m.Rmp.Write(Page >> 12, RmpStates.Firmware().WithPageSize(true));
        m.Cpu.Psmash(Page).ShouldBe(PsmashResult.Permission);
        m.Rmp.Write(Page >> 12, default(RmpEntry).WithPageSize(true).WithLock(true));
        m.Cpu.Psmash(Page).ShouldBe(PsmashResult.InUse);
    }

    [Fact]
    public void Rmp_table_places_entries_after_the_header_and_validates_its_geometry()
    {
        var m = Build();
        m.Rmp.EntryAddress(0).ShouldBe(m.Config.RmpBase + 0x4000);
        m.Rmp.EntryAddress(3).ShouldBe(m.Config.RmpBase + 0x4030);
        m.Rmp.Covers(m.Config.RmpCoveredBytes - 1).ShouldBeTrue();
        m.Rmp.Covers(m.Config.RmpCoveredBytes).ShouldBeFalse();
        Should.Throw<ArgumentException>(() => new RmpTable(m.Memory, 0x1234, 0x20_0000)).Message.ShouldStartWith("RMP_BASE must be 4 KiB aligned");
        Should.Throw<ArgumentException>(() => new RmpTable(m.Memory, 0x1000, 0x1000)).Message.ShouldStartWith("the RMP covers whole 2 MiB pages");
        Should.Throw<ArgumentException>(() => new RmpTable(m.Memory, 0x1000, 0)).Message.ShouldStartWith("the RMP covers whole 2 MiB pages");
    }

    [Theory]
    [InlineData(false, false, 0, false, false, RmpState.Hypervisor)]
    [InlineData(true, true, 0, false, false, RmpState.Firmware)]
    [InlineData(true, false, 0, false, false, RmpState.Reclaim)]
    [InlineData(true, true, 0, true, false, RmpState.Context)]
    [InlineData(true, false, 0, true, false, RmpState.Invalid)]
    [InlineData(true, true, 3, false, false, RmpState.PreGuest)]
    [InlineData(true, false, 3, false, false, RmpState.GuestInvalid)]
    [InlineData(true, false, 3, false, true, RmpState.GuestValid)]
    [InlineData(true, true, 3, false, true, RmpState.Invalid)]
    [InlineData(true, false, 0, false, true, RmpState.Invalid)]
    [InlineData(false, false, 0, false, true, RmpState.Invalid)]
    [InlineData(false, true, 0, false, false, RmpState.Invalid)]
    [InlineData(false, false, 2, false, false, RmpState.Invalid)]
    [InlineData(false, false, 0, true, false, RmpState.Invalid)]
    public void Page_states_classify_as_the_abi_table_says(bool assigned, bool immutable, ushort asid, bool vmsa, bool validated, RmpState state)
    {
        var e = default(RmpEntry).WithAssigned(assigned).WithImmutable(immutable).WithAsid(asid).WithVmsa(vmsa).WithValidated(validated);
        RmpStates.Classify(e).ShouldBe(state);
        RmpStates.IsGuestPrivate(e).ShouldBe(assigned && asid != 0);
    }
}

public class SnpCpuEdgeTests
{
    private const ulong Page = 0x4000_0000;

    [Fact]
    public void The_widest_asid_is_accepted_and_an_unassigned_page_drops_its_gpa()
    {
        var m = new Machine();
        m.Cpu.Rmpupdate(Page, new RmpUpdateArgs(0x5000, true, false, false, 0x3FF)).ShouldBe(RmpUpdateResult.Success);
        m.Rmp.Read(Page >> 12).Asid.ShouldBe((ushort)0x3FF);
        m.Cpu.Rmpupdate(Page, new RmpUpdateArgs(0x5000, false, false, false, 0)).ShouldBe(RmpUpdateResult.Success);
        m.Rmp.Read(Page >> 12).ShouldBe(default(RmpEntry));
    }

    [Fact]
    public void Each_instruction_costs_its_time_and_notifies_exactly_the_pages_it_changed()
    {
        var m = new Machine();
        var changes = new List<(ulong, ulong)>();
        m.Rmp.Changed += (first, last) => changes.Add((first, last));
        m.Cpu.Rmpupdate(Page + 0x3000, new RmpUpdateArgs(0, true, false, false, 2)).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Rmpupdate(Page + 0x20_0000, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Success);
        long before = m.SimClock.NowNs;
        m.Cpu.Psmash(Page + 0x20_0000).ShouldBe(PsmashResult.Success);
        (m.SimClock.NowNs - before).ShouldBe(m.Costs.RmpInstructionNs);
        m.Cpu.Psmash(Page + 0x20_0000).ShouldBe(PsmashResult.Input);
        changes.ShouldBe([(Page + 0x3000, Page + 0x3FFF), (Page + 0x20_0000, Page + 0x3F_FFFF), (Page + 0x20_0000, Page + 0x3F_FFFF)]);
    }

    [Fact]
    public void An_entry_keeps_both_words_apart_from_its_neighbours()
    {
        var m = new Machine();
        var e = default(RmpEntry).WithAssigned(true).WithAsid(1).WithVmplPermissions(0xAB);
        m.Rmp.Write((Page >> 12) + 1, e);
        m.Rmp.Read((Page >> 12) + 1).ShouldBe(e);
        m.Rmp.Read(Page >> 12).ShouldBe(default(RmpEntry));
        m.Rmp.Read((Page >> 12) + 2).ShouldBe(default(RmpEntry));
    }

    [Fact]
    public void The_rmp_may_cover_the_whole_physical_address_space_but_no_more()
    {
        var memory = new Driver.Platform.Memory.PhysicalMemory();
        new RmpTable(memory, 0x1000, IPhysicalMemory.Limit).Covers(IPhysicalMemory.Limit - 1).ShouldBeTrue();
        var beyond = Should.Throw<ArgumentException>(() => new RmpTable(memory, 0x1000, IPhysicalMemory.Limit + 0x20_0000));
        beyond.ParamName.ShouldBe("coveredBytes");
        beyond.Message.ShouldStartWith("the RMP covers at most the physical address space");
        Should.Throw<ArgumentException>(() => new RmpTable(memory, 0x1234, 0x20_0000)).ParamName.ShouldBe("rmpBase");
    }

    [Fact]
    public void Rmpread_returns_the_entry_that_governs_a_page_and_takes_the_instruction_time()
    {
        var m = new Machine();
        const ulong spa = 0x4000_0000;
        m.Cpu.Rmpupdate(spa, new RmpUpdateArgs(0x20_0000, true, true, false, 7)).ShouldBe(RmpUpdateResult.Success);
        long before = m.Clock.NowNs;
        m.Cpu.Rmpread(spa + 0x5000, out var entry, out bool is2M).ShouldBeTrue();
        (m.Clock.NowNs - before).ShouldBe(m.Costs.RmpInstructionNs);
        is2M.ShouldBeTrue();
        entry.Asid.ShouldBe((ushort)7);
        entry.Gpa.ShouldBe(0x20_0000UL, "the head's entry speaks for the run");
        m.Cpu.Psmash(spa).ShouldBe(PsmashResult.Success);
        m.Cpu.Rmpread(spa + 0x5000, out entry, out is2M).ShouldBeTrue();
        is2M.ShouldBeFalse();
        entry.Gpa.ShouldBe(0x20_5000UL);
        m.Cpu.Rmpread(spa + 0x20_0000, out entry, out is2M).ShouldBeTrue();
        entry.Assigned.ShouldBeFalse();
        m.Cpu.Rmpread(m.Rmp.CoveredBytes, out entry, out is2M).ShouldBeFalse("beyond the RMP");
        entry.ShouldBe(default);
        is2M.ShouldBeFalse();
    }
}
