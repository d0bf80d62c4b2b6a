using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Snp;

namespace Driver.Platform.Tests;

/// <summary>RMPUPDATE and PSMASH with random operands: return codes, never exceptions, and a refusal changes nothing.</summary>
public class SnpCpuFuzzTests
{
    public const int Steps = 20_000;

    private const ulong Region = 0x4000_0000;

    // Sixteen 2 MiB runs so that states meet: 4K pages of the first eight, whole runs of all
    // (so that some runs stay uniform enough for 2M updates and PSMASH), and addresses the RMP does not cover.
    private static ulong Spa(Random rng, ulong covered) => rng.Next(10) switch
    {
        0 => covered + ((ulong)rng.Next(0, 4) << 21),
        1 => IPhysicalMemory.Limit + ((ulong)rng.Next(0, 4) << 12),
        2 => (ulong)rng.NextInt64() | (1UL << 63),
        3 => Region + (ulong)rng.Next(0, 8 << 21),
        4 or 5 or 6 => Region + ((ulong)rng.Next(0, 16) << 21),
        _ => Region + ((ulong)rng.Next(0, 8 << 9) << 12),
    };

    private static ulong Gpa(Random rng) => rng.Next(6) switch
    {
        0 => (ulong)rng.NextInt64(),
        1 => (1UL << 51) + ((ulong)rng.Next(0, 4) << 21),
        2 => ((ulong)(uint)rng.Next(0, 1 << 20) << 12) | (uint)rng.Next(0, 2),
        3 => (ulong)rng.Next(0, 64) << 21,
        _ => 0,
    };

    [Fact]
    public void Random_operands_get_return_codes_and_a_refusal_changes_nothing()
    {
        var m = new Machine();
        var rng = new Random(52);
        var seen = new HashSet<string>();
        // Only hardware in the middle of an update sets Lock: plant a locked 4K entry and a locked 2M entry.
        m.Rmp.Write((Region + (1UL << 21) + 0x5000) >> 12, default(RmpEntry).WithLock(true));
        m.Rmp.Write((Region + (3UL << 21)) >> 12, default(RmpEntry).WithLock(true).WithPageSize(true));
        for (int step = 0; step < Steps; step++)
        {
            ulong spa = Spa(rng, m.Rmp.CoveredBytes);
            var before = Entries(m, spa);
            string result;
            if (rng.Next(4) == 0)
            {
                var r = m.Cpu.Psmash(spa);
                Enum.IsDefined(r).ShouldBeTrue();
                result = "PSMASH " + r;
                if (r != PsmashResult.Success)
                    Entries(m, spa).ShouldBe(before, result);
            }
            else
            {
                var args = new RmpUpdateArgs(Gpa(rng), rng.Next(3) != 0, rng.Next(3) == 0, rng.Next(10) == 0,
                    rng.Next(4) == 0 ? (ushort)rng.Next(0, 1 << 16) : (ushort)rng.Next(0, 8));
                var r = m.Cpu.Rmpupdate(spa, args);
                Enum.IsDefined(r).ShouldBeTrue();
                result = "RMPUPDATE " + r;
                if (r != RmpUpdateResult.Success)
                    Entries(m, spa).ShouldBe(before, $"{result} {args}");
            }
            seen.Add(result);
        }
        // Every return code of both instructions came up.
        foreach (var r in Enum.GetValues<RmpUpdateResult>())
            seen.ShouldContain("RMPUPDATE " + r);
        foreach (var r in Enum.GetValues<PsmashResult>())
            seen.ShouldContain("PSMASH " + r);

        // Afterwards both still work on a run the fuzz never reached.
        ulong fresh = Region + (32UL << 21);
        m.Cpu.Rmpupdate(fresh, new RmpUpdateArgs(0x20_0000, true, true, false, 7)).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Psmash(fresh).ShouldBe(PsmashResult.Success);
        var e = m.Rmp.Read((fresh >> 12) + 5);
        e.PageSize.ShouldBeFalse();
        e.Gpa.ShouldBe(0x20_5000UL);
        e.Asid.ShouldBe((ushort)7);
    }

    // The 2 MiB run around spa, raw, or nothing for an address the RMP does not cover.
    private static ulong[] Entries(Machine m, ulong spa)
    {
        if (!m.Rmp.Covers(spa))
            return [];
        ulong head = SnpPageSize.HeadPfn(spa >> 12);
        var words = new ulong[2 * SnpPageSize.EntriesPer2M];
        for (ulong i = 0; i < SnpPageSize.EntriesPer2M; i++)
        {
            var entry = m.Rmp.Read(head + i);
            words[2 * i] = entry.GetWord(0);
            words[(2 * i) + 1] = entry.GetWord(1);
        }
        return words;
    }
}
