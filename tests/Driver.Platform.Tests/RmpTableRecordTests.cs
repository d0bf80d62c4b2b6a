using Driver.Hw.Sev;
using Driver.Platform.Memory;
using Driver.Platform.Snp;

namespace Driver.Platform.Tests;

/// <summary>
/// The RMP keeps one record per 2 MiB run written whole and expands a run to its 512 entries only
/// when a 4 KiB write makes one differ; every read still equals a table of 4 KiB entries.
/// </summary>
public class RmpTableRecordTests
{
    private const int Runs = 4;
    private const ulong GpaLimit = 1UL << 51;

    private static RmpTable NewTable() => new(new PhysicalMemory(), 0x1000_0000, Runs * SnpPageSize.Size2M);

    private static RmpEntry Guest(ushort asid, ulong gpa) =>
        default(RmpEntry).WithAssigned(true).WithAsid(asid).WithGpa(gpa).WithVmplPermissions(0x0F);

    // What a run written whole from `head` holds at `index`, worked out apart from the table.
    private static RmpEntry Expected(RmpEntry head, bool as2M, ulong index)
    {
        bool guestPrivate = head.Assigned && head.Asid != 0;
        ulong gpa = guestPrivate ? (head.Gpa + (index << 12)) % GpaLimit : head.Gpa;
        return head.WithPageSize(as2M).WithGpa(gpa);
    }

    [Fact]
    public void A_differing_4K_write_expands_the_run_and_a_whole_run_write_shrinks_it_back()
    {
        var rmp = NewTable();
        const ulong head = 512;
        var entry = Guest(5, 0x20_0000);
        rmp.WriteRun(head, entry, as2M: true);
        rmp.ExpandedRuns.ShouldBe(0);

        // Writing what an entry already holds keeps the run one record.
        rmp.Write(head + 9, rmp.Read(head + 9));
        rmp.ExpandedRuns.ShouldBe(0);

        var odd = Guest(5, 0x7000_0000).WithValidated(true);
        rmp.Write(head + 9, odd);
        rmp.ExpandedRuns.ShouldBe(1);
        rmp.Read(head + 9).ShouldBe(odd);
        for (ulong i = 0; i < 512; i++)
        {
            if (i != 9)
                rmp.Read(head + i).ShouldBe(Expected(entry, true, i), $"entry {i}");
        }
        // The neighbouring runs stay unwritten zeros.
        rmp.Read(head - 1).ShouldBe(default);
        rmp.Read(head + 512).ShouldBe(default);

        var again = Guest(7, 0x40_0000);
        rmp.WriteRun(head, again, as2M: false);
        rmp.ExpandedRuns.ShouldBe(0);
        for (ulong i = 0; i < 512; i++)
            rmp.Read(head + i).ShouldBe(Expected(again, false, i), $"entry {i}");
    }

    [Fact]
    public void Writes_end_at_the_covered_memory_not_at_the_last_chunk()
    {
        // 4 runs live in a chunk of 512: the chunk has room past the covered 8 MiB.
        var rmp = NewTable();
        ulong firstBeyond = Runs * 512;
        var entry = Guest(5, 0);
        rmp.Write(firstBeyond - 1, entry);
        rmp.Read(firstBeyond - 1).ShouldBe(entry);
        Should.Throw<ArgumentOutOfRangeException>(() => rmp.Write(firstBeyond, entry));
        Should.Throw<ArgumentOutOfRangeException>(() => rmp.WriteRun(firstBeyond, entry, as2M: true));
        Should.Throw<ArgumentOutOfRangeException>(() => rmp.Split(firstBeyond));
        rmp.Read(firstBeyond).ShouldBe(default);
        rmp.ExpandedRuns.ShouldBe(1);
    }

    [Fact]
    public void A_guest_run_near_the_top_of_the_gpa_field_wraps()
    {
        var rmp = NewTable();
        var entry = Guest(3, GpaLimit - (2UL << 12));
        rmp.WriteRun(0, entry, as2M: true);
        rmp.Read(1).Gpa.ShouldBe(GpaLimit - (1UL << 12));
        rmp.Read(2).Gpa.ShouldBe(0UL);
        rmp.Read(511).Gpa.ShouldBe(509UL << 12);
        rmp.ReadEffective(300, out bool is2M).ShouldBe(rmp.Read(0));
        is2M.ShouldBeTrue();
    }

    [Fact]
    public void Reads_equal_a_table_of_4K_entries_under_random_2M_and_4K_writes()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var random = new Random(seed);
            var rmp = NewTable();
            var model = new RmpEntry[Runs * 512];
            var expanded = new bool[Runs];
            for (int step = 0; step < 300; step++)
            {
                int run = random.Next(Runs);
                ulong head = (ulong)run * 512;
                if (random.Next(4) == 0)
                {
                    var entry = RandomEntry(random);
                    bool as2M = random.Next(2) == 0;
                    rmp.WriteRun(head, entry, as2M);
                    for (ulong i = 0; i < 512; i++)
                        model[head + i] = Expected(entry, as2M, i);
                    expanded[run] = false;
                }
                else
                {
                    // A few pages of each run, so that writes meet the entries they already hold.
                    ulong pfn = head + (ulong)(random.Next(3) == 0 ? random.Next(512) : random.Next(4));
                    var entry = random.Next(3) == 0 ? model[pfn] : RandomEntry(random);
                    rmp.Write(pfn, entry);
                    if (entry != model[pfn])
                        expanded[run] = true;
                    model[pfn] = entry;
                }
                rmp.ExpandedRuns.ShouldBe(expanded.Count(e => e), $"seed {seed} step {step}");
                if (step % 25 == 0 || step == 299)
                {
                    for (int pfn = 0; pfn < model.Length; pfn++)
                        rmp.Read((ulong)pfn).ShouldBe(model[pfn], $"seed {seed} step {step} pfn {pfn}");
                }
            }
        }
    }

    private static RmpEntry RandomEntry(Random random)
    {
        ulong gpa = random.Next(8) == 0 ? GpaLimit - ((ulong)random.Next(1, 600) << 12) : (ulong)random.Next(0, 1 << 20) << 12;
        return default(RmpEntry)
            .WithAssigned(random.Next(4) != 0)
            .WithAsid((ushort)random.Next(3))
            .WithGpa(gpa)
            .WithValidated(random.Next(2) == 0)
            .WithImmutable(random.Next(8) == 0)
            .WithVmplPermissions((ulong)random.Next(2) * 0x0F);
    }
}
