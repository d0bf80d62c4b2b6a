using System.Collections.Concurrent;
using CsCheck;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Tests.Support;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Driver.Kernel.Tests.IommuPt;

/// <summary>
/// Real threads on bare simulated memory (inside a Machine there is only one
/// kernel thread): map, unmap and lookup on disjoint ranges must be
/// linearizable against the reference map, and lost table installs must
/// happen and give their frames back.
/// </summary>
public sealed class ConcurrencyTests(ITestOutputHelper output)
{
    private const ulong K4 = 4096;
    private const ulong G1 = 1UL << 30;
    private const ulong Oa = 0x40_0000_0000;
    private const int Slots = 8;
    private const int SlotPages = 16;
    private const ulong SlotSize = SlotPages * K4;
    private const IommuProt Prot = IommuProt.Read | IommuProt.Write;

    // Slots of 64 KiB: all in one leaf table, so that every map races for the same tables
    // and no unmap of a slot can cover (and free) a table another slot uses.
    private static ulong SlotVa(int slot) => G1 + ((ulong)slot * SlotSize);

    /// <summary>The table with the caller's range lock per slot (callers serialise overlapping ranges), and what each call returned.</summary>
    private sealed class Actual
    {
        public PtFixture<AmdV1Format> Fixture { get; } = new(new PtConfig { TopLevel = 2, DynamicTop = true });

        public object[] SlotLocks { get; } = Enumerable.Range(0, Slots).Select(_ => new object()).ToArray();

        public ConcurrentBag<string> Results { get; } = [];

        public override string ToString() => string.Join(", ", Results.Order());
    }

    private sealed class Model
    {
        public ReferenceMap Map { get; } = new();

        public List<string> Results { get; } = [];

        public override string ToString() => string.Join(", ", Results.Order());
    }

    private static readonly Gen<int> GenSlot = Gen.Int[0, Slots - 1];

    private static readonly GenOperation<Actual, Model> MapOp =
        Gen.Select(GenSlot, Gen.Int[1, SlotPages], Gen.Int[0, 3]).Operation<Actual, Model>(
            t => $"Map(slot {t.Item1}, {t.Item2} pages, oa {t.Item3})",
            (a, t) =>
            {
                var (slot, pages, oa) = t;
                lock (a.SlotLocks[slot])
                {
                    var err = a.Fixture.Table.MapPages(SlotVa(slot), OaOf(oa), K4, (ulong)pages, Prot, out ulong mapped);
                    a.Results.Add($"map {slot}: {err} {mapped:x}");
                }
            },
            (m, t) =>
            {
                var (slot, pages, oa) = t;
                var (err, mapped) = m.Map.Map(SlotVa(slot), OaOf(oa), (ulong)pages * K4, 12, Prot);
                m.Results.Add($"map {slot}: {err} {mapped:x}");
            });

    private static readonly GenOperation<Actual, Model> UnmapOp =
        GenSlot.Operation<Actual, Model>(
            slot => $"Unmap(slot {slot})",
            (a, slot) =>
            {
                lock (a.SlotLocks[slot])
                {
                    var gather = new IotlbGather();
                    var err = a.Fixture.Table.UnmapPages(SlotVa(slot), SlotSize, gather, out ulong unmapped);
                    a.Fixture.Table.IotlbSync(gather);
                    a.Results.Add($"unmap {slot}: {err} {unmapped:x}");
                }
            },
            (m, slot) =>
            {
                var (err, unmapped) = m.Map.Unmap(SlotVa(slot), SlotSize);
                m.Results.Add($"unmap {slot}: {err} {unmapped:x}");
            });

    // No lock: a lookup may run beside a map or unmap of its own slot and sees it whole or not at all, page by page.
    private static readonly GenOperation<Actual, Model> LookupOp =
        Gen.Select(GenSlot, Gen.Int[0, SlotPages - 1]).Operation<Actual, Model>(
            t => $"IovaToPhys(slot {t.Item1}, page {t.Item2})",
            (a, t) =>
            {
                ulong va = SlotVa(t.Item1) + ((ulong)t.Item2 * K4) + 0x123;
                a.Results.Add($"lookup {va:x}: {a.Fixture.Table.IovaToPhys(va):x}");
            },
            (m, t) =>
            {
                ulong va = SlotVa(t.Item1) + ((ulong)t.Item2 * K4) + 0x123;
                ulong pa = m.Map.Find(va) is { } e ? e.Oa + (va - e.Iova) : 0;
                m.Results.Add($"lookup {va:x}: {pa:x}");
            });

    private static ulong OaOf(int choice) => Oa + ((ulong)choice * SlotSize * Slots);

    // Same answers to every call, same translation of every page, and the allocator holds exactly the tables.
    private static bool Same(Actual a, Model m)
    {
        if (!a.Results.Order(StringComparer.Ordinal).SequenceEqual(m.Results.Order(StringComparer.Ordinal)))
            return false;
        for (int slot = 0; slot < Slots; slot++)
        {
            for (int page = 0; page < SlotPages; page++)
            {
                ulong va = SlotVa(slot) + ((ulong)page * K4);
                ulong expected = m.Map.Find(va) is { } e ? e.Oa + (va - e.Iova) : 0;
                if (a.Fixture.Table.IovaToPhys(va) != expected)
                    return false;
            }
        }
        var f = a.Fixture;
        return f.Allocator.FramesInUse == TableWalker.CountTables(f.Table, f.Memory);
    }

    [Fact]
    public void MapUnmapAndLookup_OnDisjointRanges_AreLinearizable()
    {
        Gen.Const(() => (new Actual(), new Model()))
            .SampleParallel(MapOp, UnmapOp, LookupOp, equal: Same, iter: 300, threads: 2);
    }

    [Fact]
    public void LostTableInstalls_Happen_AndTheLosersFramesAreFreed()
    {
        const int Threads = 4;
        const int PagesPerThread = 1024;
        const int MaxRounds = 200;
        long lost = 0;
        for (int round = 0; round < MaxRounds && lost == 0; round++)
        {
            var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 3 });
            var errors = Race.Run(Threads, (t, report) =>
            {
                // Thread t maps page t of each 2 MiB region: every region needs a new leaf table, wanted by all at once.
                for (int i = 0; i < PagesPerThread; i++)
                {
                    ulong va = G1 + ((ulong)i << 21) + ((ulong)t * K4);
                    report(f.Table.MapPages(va, Oa + va, K4, 1, IommuProt.Read, out _));
                }
            });
            errors.ShouldAllBe(e => e == Errno.Ok);
            lost = f.Table.LostTableInstalls;
            for (int t = 0; t < Threads; t++)
            {
                for (int i = 0; i < PagesPerThread; i++)
                {
                    ulong va = G1 + ((ulong)i << 21) + ((ulong)t * K4);
                    f.Table.IovaToPhys(va).ShouldBe(Oa + va);
                }
            }
            // Every frame handed out is a table of the tree or was given back by a loser.
            int tables = TableWalker.CountTables(f.Table, f.Memory);
            f.Allocator.FramesInUse.ShouldBe(tables);
            f.Allocator.TotalAllocs.ShouldBe(tables + lost);
            f.Allocator.TotalFrees.ShouldBe(lost);
            f.DeinitAndCheckNoLeak();
        }
        lost.ShouldBeGreaterThan(0, $"no compare-and-swap was lost in {MaxRounds} rounds");
        output.WriteLine($"lost table installs: {lost}");
    }
}
