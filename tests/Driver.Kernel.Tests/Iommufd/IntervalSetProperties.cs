using CsCheck;
using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The interval sets and the automatic IOVA allocator against brute-force references.</summary>
public class IntervalSetProperties
{
    private const ulong Universe = 1UL << 24;
    private const ulong Pg = 4096;

    private static readonly Gen<(ulong Start, ulong Last)> GenRange =
        Gen.Select(Gen.ULong[0, (Universe / Pg) - 1], Gen.ULong[1, 64], (p, n) => (p * Pg, Math.Min(Universe - 1, ((p + n) * Pg) - 1)));

    [Fact]
    public void First_intersecting_and_union_match_a_list()
    {
        Gen.Select(GenRange.List[0, 30], GenRange).Sample((nodes, query) =>
        {
            var set = new IntervalSet<int>();
            for (int i = 0; i < nodes.Count; i++)
                set.Add(nodes[i].Start, nodes[i].Last, i);
            var hits = nodes.Select((n, i) => (n, i)).Where(x => x.n.Start <= query.Last && x.n.Last >= query.Start).ToList();
            var first = set.First(query.Start, query.Last);
            if (hits.Count == 0)
                first.ShouldBeNull();
            else
                first!.Start.ShouldBe(hits.Min(h => h.n.Start));
            set.Intersecting(query.Start, query.Last).Count().ShouldBe(hits.Count);
            // Every byte of the query range is in a span of the union exactly when some node covers it (checked per page).
            var union = set.Union(query.Start, query.Last);
            for (ulong at = query.Start; at <= query.Last; at += Pg)
            {
                bool covered = nodes.Any(n => n.Start <= at && n.Last >= at);
                union.Any(u => u.Start <= at && u.Last >= at).ShouldBe(covered);
            }
            for (int i = 1; i < union.Count; i++)
                union[i].Start.ShouldBeGreaterThan(union[i - 1].Last + 1);
        }, iter: 400);
    }

    [Fact]
    public void Remove_takes_out_exactly_one_node()
    {
        GenRange.List[1, 20].Sample(nodes =>
        {
            var set = new IntervalSet<int>();
            var added = nodes.Select((n, i) => set.Add(n.Start, n.Last, i)).ToList();
            set.Remove(added[0]);
            set.Count.ShouldBe(nodes.Count - 1);
            set.Nodes.ShouldNotContain(added[0]);
        }, iter: 200);
    }

    [Fact]
    public void Automatic_iova_is_the_lowest_aligned_fit_outside_reserved_and_areas()
    {
        var gen = Gen.Select(GenRange.List[0, 6], GenRange.List[0, 6], GenRange.List[0, 3], Gen.ULong[1, 96], Gen.ULong[0, 1UL << 12], Gen.Const(0UL));
        gen.Sample((reserved, areas, allowed, pages, addrPage, offset) =>
        {
            var rig = new IommufdRig();
            var iopt = new IoPageTable(rig.Core);
            // Everything from the universe's end up is reserved, so a brute-force search over it decides.
            iopt.Reserved.Add(Universe, ulong.MaxValue, "end");
            foreach (var r in reserved)
                iopt.Reserved.Add(r.Start, r.Last, "r");
            var allowedClean = new IntervalSet<object?>();
            foreach (var a in allowed)
            {
                if (allowedClean.First(a.Start, a.Last) is null && iopt.Reserved.First(a.Start, a.Last) is null)
                    allowedClean.Add(a.Start, a.Last, null);
            }
            foreach (var a in allowedClean.Nodes)
                iopt.Allowed.Add(a.Start, a.Last, null);
            foreach (var a in areas)
            {
                if (iopt.Reserved.First(a.Start, a.Last) is null && iopt.Areas.First(a.Start, a.Last) is null)
                    iopt.Areas.Add(a.Start, a.Last, null!);
            }
            ulong length = pages * Pg;
            ulong addr = (addrPage * Pg) | offset;
            var err = iopt.AllocIova(addr, length, out ulong iova);

            ulong alignment = System.Numerics.BitOperations.RoundUpToPowerOf2(length);
            if (addr != 0)
                alignment = Math.Min(alignment, 1UL << System.Numerics.BitOperations.TrailingZeroCount(addr));
            alignment = Math.Min(alignment, IoPageTable.HugePageSize);
            ulong? expected = null;
            for (ulong k = 0; k * alignment < Universe && expected is null; k++)
            {
                ulong start = (k * alignment) | (offset);
                ulong last = start + length - 1;
                if (start < Pg || last >= Universe)
                    continue;
                bool inAllowed = iopt.Allowed.IsEmpty
                    ? true
                    : iopt.Allowed.Union(start, last) is [var only] && only.Start == start && only.Last == last;
                if (inAllowed && iopt.Reserved.First(start, last) is null && iopt.Areas.First(start, last) is null)
                    expected = start;
            }
            if (expected is { } want)
            {
                err.ShouldBe(Errno.Ok);
                iova.ShouldBe(want);
            }
            else
                err.ShouldBe(Errno.ENOSPC);
        }, iter: 300);
    }

    [Theory]
    [InlineData(0UL, Errno.EOVERFLOW)]
    [InlineData(ulong.MaxValue / 2, Errno.EOVERFLOW)]
    public void Automatic_iova_refuses_a_length_it_cannot_align(ulong length, Errno expected)
    {
        var iopt = new IoPageTable(new IommufdRig().Core);
        iopt.AllocIova(0, length, out _).ShouldBe(expected);
    }

    [Fact]
    public void Automatic_iova_is_never_zero()
    {
        var iopt = new IoPageTable(new IommufdRig().Core);
        iopt.AllocIova(0, Pg, out ulong iova).ShouldBe(Errno.Ok);
        iova.ShouldBe(Pg);
    }
}
