using Driver.Kernel.IommuPt;
using Driver.Kernel.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

/// <summary>
/// Thousands of random sequences of map, unmap, cut, merge and lookup, each
/// checked step by step against <see cref="ReferenceMap"/>, then entry by
/// entry, then for leaks.
/// </summary>
public abstract class PageTablePropertyContract<TFormat>
    where TFormat : struct, IPtFormat
{
    private const ulong K4 = 4096;
    private const ulong G1 = 1UL << 30;

    // Mutation testing runs the suite once per mutant: it may ask for fewer cases.
    private static readonly int Runs =
        int.TryParse(Environment.GetEnvironmentVariable("IOMMUPT_PROPERTY_RUNS"), out int runs) ? runs : 1000;

    protected abstract PtConfig Config { get; }

    internal abstract record Op;

    internal sealed record MapOp(ulong Iova, ulong Oa, ulong Length, IommuProt Prot) : Op;

    internal sealed record UnmapOp(ulong Iova, ulong Length) : Op;

    internal sealed record CutOp(ulong Iova) : Op;

    internal sealed record MergeOp(ulong Iova, ulong Length) : Op;

    internal sealed record LookupOp(ulong Iova) : Op;

    private static IommuProt Normalized(IommuProt prot) => TFormat.ProtFromAttrs(TFormat.AttrsFromProt(prot));

    [Fact]
    public void RandomSequences_MatchTheReferenceMap()
    {
        var probe = new PtFixture<TFormat>(Config);
        ulong bitmap = probe.Table.PageSizeBitmap;
        int vaBits = probe.Table.VaBits;
        probe.DeinitAndCheckNoLeak();

        var units = Enumerable.Range(12, 19).Where(lg2 => (bitmap & (1UL << lg2)) != 0).Select(lg2 => 1UL << lg2).ToArray();
        var bases = new List<ulong> { 0, G1, 3 * G1 };
        if (Config.SignExtend)
            bases.AddRange([0UL - (1UL << (vaBits - 1)), unchecked(0UL - (8 * G1))]);
        ulong oaMask = (1UL << TFormat.MaxOaBits) - 1;

        var address =
            from regionBase in Gen.Elements(bases.ToArray())
            from unit in Gen.Elements(units)
            from k in Gen.Choose(0, 15)
            select (regionBase, unit, iova: regionBase + ((ulong)k * unit));
        var map =
            from a in address
            from n in Gen.Choose(1, 4)
            from delta in Gen.Elements(0UL, G1, 7 * G1)
            from skew in Gen.Elements(0UL, 0UL, 0UL, K4)
            from prot in Gen.Elements(IommuProt.Read, IommuProt.Read | IommuProt.Write, IommuProt.Write, IommuProt.Read | IommuProt.Cache)
            select (Op)new MapOp(a.iova, ((a.iova + delta) & oaMask) | (a.unit <= (2UL << 20) ? skew : 0), (ulong)n * a.unit, prot);
        var unmap =
            from a in address
            from n in Gen.Choose(1, 6)
            from inside in Gen.Elements(0UL, K4)
            select (Op)new UnmapOp(a.iova + inside, (ulong)n * a.unit);
        var cut =
            from a in address
            from offset in Gen.Elements(0UL, K4, 16 * K4, 512 * K4, 7 * K4)
            select (Op)new CutOp(a.iova + (offset % a.unit));
        var merge =
            from a in address
            from n in Gen.Choose(1, 8)
            select (Op)new MergeOp(a.iova, (ulong)n * a.unit);
        var lookup =
            from a in address
            from offset in Gen.Choose(0, 1 << 20)
            select (Op)new LookupOp(a.iova + ((ulong)offset * K4 % a.unit));
        var op = Gen.Frequency<Op>((8, map), (4, unmap), (3, cut), (2, merge), (3, lookup));
        var sequences =
            from length in Gen.Choose(1, 40)
            from ops in Gen.ArrayOf(op, length)
            select ops;

        var property = Prop.ForAll(sequences.ToArbitrary(), ops => Run(ops, bitmap));
        Check.One(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(Runs), property);
    }

    private void Run(Op[] ops, ulong bitmap)
    {
        var f = new PtFixture<TFormat>(Config);
        var model = new ReferenceMap();
        foreach (var op in ops)
        {
            switch (op)
            {
                case MapOp m when m.Iova + (m.Length - 1) < m.Iova:
                    f.Table.MapPages(m.Iova, m.Oa, m.Length, 1, m.Prot, out _).ShouldBe(Errno.EOVERFLOW);
                    break;
                case MapOp m when (m.Oa + (m.Length - 1)) >> TFormat.MaxOaBits != 0:
                    f.Table.MapPages(m.Iova, m.Oa, m.Length, 1, m.Prot, out _).ShouldBe(Errno.ERANGE);
                    break;
                case UnmapOp u when u.Iova + (u.Length - 1) < u.Iova:
                    f.Table.UnmapPages(u.Iova, u.Length, new IotlbGather(), out _).ShouldBe(Errno.EOVERFLOW);
                    break;
                case MergeOp g when g.Iova + (g.Length - 1) < g.Iova:
                    f.Table.Merge(g.Iova, g.Length).ShouldBe(Errno.EOVERFLOW);
                    break;
                case MapOp m:
                    int pageLg2 = PageSizes.BestLg2(bitmap, m.Iova, m.Iova + m.Length - 1, m.Oa | m.Length);
                    var expected = model.Map(m.Iova, m.Oa, m.Length, pageLg2, Normalized(m.Prot));
                    var err = f.Table.MapPages(m.Iova, m.Oa, 1UL << pageLg2, m.Length >> pageLg2, m.Prot, out ulong mapped);
                    (err, mapped).ShouldBe(expected, op.ToString());
                    break;
                case UnmapOp u:
                    var expectedUnmap = model.Unmap(u.Iova, u.Length);
                    var gather = new IotlbGather();
                    err = f.Table.UnmapPages(u.Iova, u.Length, gather, out ulong unmapped);
                    f.Table.IotlbSync(gather);
                    (err, unmapped).ShouldBe(expectedUnmap, op.ToString());
                    break;
                case CutOp c:
                    f.Table.Cut(c.Iova).ShouldBe(Errno.Ok, op.ToString());
                    model.Cut(c.Iova, bitmap);
                    break;
                case MergeOp g:
                    f.Table.Merge(g.Iova, g.Length).ShouldBe(Errno.Ok, op.ToString());
                    model.Merge(g.Iova, g.Length, SizesUpToTop(bitmap, f.Table.TopLevel));
                    break;
                case LookupOp l:
                    var entry = model.Find(l.Iova);
                    f.Table.TryLookup(l.Iova, out var found).ShouldBe(entry is not null, op.ToString());
                    if (entry is { } e)
                    {
                        (found.Iova, found.Size, found.Oa, found.Prot).ShouldBe((e.Iova, e.Size, e.Oa, e.Prot), op.ToString());
                        f.Table.IovaToPhys(l.Iova).ShouldBe(e.Oa + (l.Iova - e.Iova));
                    }
                    break;
            }
        }

        f.Table.Dump().Select(e => (e.Iova, e.Size, e.Oa, e.Prot))
            .ShouldBe(model.Entries.Select(e => (e.Iova, e.Size, e.Oa, e.Prot)), string.Join("; ", ops.Select(o => o.ToString())));
        foreach (var e in model.Entries.ToList())
            f.Unmap(e.Iova, e.Size).ShouldBe(e.Size);
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    // A merge cannot build a leaf above the current top.
    private static ulong SizesUpToTop(ulong bitmap, int topLevel)
    {
        ulong sizes = 0;
        for (int level = 0; level <= topLevel; level++)
            sizes |= TFormat.PossibleSizes(level);
        return bitmap & sizes;
    }
}

public sealed class AmdV1PageTableProperties : PageTablePropertyContract<AmdV1Format>
{
    protected override PtConfig Config => new() { TopLevel = 1, DynamicTop = true };
}

public sealed class X86PageTableProperties : PageTablePropertyContract<X86Format>
{
    protected override PtConfig Config => new() { TopLevel = 3, SignExtend = true };
}

public sealed class RiscvPageTableProperties : PageTablePropertyContract<RiscvFormat>
{
    protected override PtConfig Config => new() { TopLevel = 2, SignExtend = true };
}
