using System.Numerics;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Tests.Support;
using Driver.Platform.Memory;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

/// <summary>
/// Linux's kunit cases for generic_pt, plus the operations upstream lacks,
/// run once per format by the subclasses.
/// </summary>
public abstract class PageTableContract<TFormat>
    where TFormat : struct, IPtFormat
{
    protected const ulong Oa = 0x40_0000_0000;
    private const ulong K4 = 4096;
    private const ulong M2 = 2UL << 20;
    private const ulong G1 = 1UL << 30;

    protected abstract PtConfig Config { get; }

    internal PtFixture<TFormat> NewFixture() => new(Config);

    private static IommuProt Normalized(IommuProt prot) => TFormat.ProtFromAttrs(TFormat.AttrsFromProt(prot));

    private static IEnumerable<int> Sizes(ulong bitmap, int maxLg2 = 63)
    {
        for (int lg2 = 0; lg2 <= maxLg2; lg2++)
        {
            if ((bitmap & (1UL << lg2)) != 0)
                yield return lg2;
        }
    }

    private static void CheckIova(IommuPageTable<TFormat> table, ulong va, ulong pa, ulong length)
    {
        // First, last and evenly spread pages: every page of a 1 GiB entry would be slow for nothing.
        ulong pages = length / K4;
        ulong stride = Math.Max(1, pages / 64);
        for (ulong page = 0; page < pages; page += stride)
            table.IovaToPhys(va + (page * K4)).ShouldBe(pa + (page * K4), $"page 0x{va + (page * K4):x}");
        table.IovaToPhys(va + length - 1).ShouldBe(pa + length - 1);
    }

    [Fact]
    public void MapSimple_EveryPageSize_TranslatesAndUnmaps()
    {
        var f = NewFixture();
        var sizes = Sizes(f.Table.PageSizeBitmap, 51).ToList();
        ulong va = K4 * 256;
        var placed = new List<(ulong Va, ulong Size)>();
        foreach (int lg2 in sizes)
        {
            ulong size = 1UL << lg2;
            va = (va + size - 1) & ~(size - 1);
            ulong pa = Oa & ~(size - 1);
            f.Map(va, pa, size);
            CheckIova(f.Table, va, pa, Math.Min(size, 2 * G1));
            f.Table.TryLookup(va + (size / 2), out var entry).ShouldBeTrue();
            entry.ShouldBe(new PtEntryInfo(va, pa, lg2, PtGeometry.LevelOfSize(lg2), Normalized(IommuProt.Read | IommuProt.Write), entry.Dirty));
            placed.Add((va, size));
            va += size;
        }

        var counts = f.CountBySize();
        foreach (int lg2 in sizes)
            counts[lg2].ShouldBe(1);
        counts.Count.ShouldBe(sizes.Count);

        foreach (var (start, size) in placed)
        {
            f.Unmap(start, size).ShouldBe(size);
            f.Table.IovaToPhys(start).ShouldBe(0UL);
        }
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapTableToOa_LargerPagesReplaceEmptyTables()
    {
        var f = NewFixture();
        ulong max = 1UL << BitOperations.Log2(f.Table.PageSizeBitmap & PageSizes.UpTo(26));
        ulong va = max;
        foreach (int lg2 in Sizes(f.Table.PageSizeBitmap, BitOperations.Log2(max)))
        {
            ulong len = 1UL << lg2;
            ulong pa = Oa & ~(len - 1);
            for (ulong offset = 0; offset != max; offset += len)
                f.Map(va + offset, pa + offset, len);
            CheckIova(f.Table, va, pa, max);
            var counts = f.CountBySize();
            counts.Keys.ShouldBe([lg2]);
            counts[lg2].ShouldBe((int)(max / len));

            if (len == max)
            {
                f.Unmap(va, max).ShouldBe(max);
            }
            else
            {
                f.Unmap(va, max / 2).ShouldBe(max / 2);
                for (ulong offset = max / 2; offset != max; offset += len)
                    f.Unmap(va + offset, len).ShouldBe(len);
            }
            f.Table.Dump().ShouldBeEmpty();
        }
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void UnmapSplit_UnmapOfTheStartRemovesTheWholeLargePage()
    {
        var f = NewFixture();
        var sizes = Sizes(f.Table.PageSizeBitmap, 39).ToList();
        int pairs = 0;
        foreach (int baseLg2 in sizes)
        {
            foreach (int nextLg2 in sizes.Where(s => s > baseLg2))
            {
                ulong next = 1UL << nextLg2;
                f.Map(0, 0, next);
                f.Unmap(0, 1UL << baseLg2).ShouldBe(next);

                // Unmap must not run on into the next page.
                f.Map(0, 0, next);
                f.Map(next, 0, next);
                f.Unmap(0, 1UL << baseLg2).ShouldBe(next);
                f.Unmap(next, next).ShouldBe(next);
                pairs++;
            }
        }
        pairs.ShouldBeGreaterThan(0);
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Unmap_StartingInsideALargePage_IsEinvalAndChangesNothing()
    {
        var f = NewFixture();
        f.Map(M2, Oa, M2);
        var gather = new IotlbGather();
        f.Table.UnmapPages(M2 + K4, K4, gather, out ulong unmapped).ShouldBe(Errno.EINVAL);
        unmapped.ShouldBe(0UL);
        gather.IsEmpty.ShouldBeTrue();
        f.Table.IovaToPhys(M2 + K4).ShouldBe(Oa + K4);

        // Ending inside it removes all of it and says so.
        f.Table.UnmapPages(M2, K4, gather, out unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(M2);
        gather.Start.ShouldBe(M2);
        gather.End.ShouldBe((2 * M2) - 1);
        f.Table.IotlbSync(gather);
        f.Table.IovaToPhys(M2 + K4).ShouldBe(0UL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Unmap_StopsAtAHole()
    {
        var f = NewFixture();
        f.Map(0, Oa, K4);
        f.Map(2 * K4, Oa + (2 * K4), K4);
        var gather = new IotlbGather();
        f.Table.UnmapPages(0, 3 * K4, gather, out ulong unmapped).ShouldBe(Errno.ENOENT);
        unmapped.ShouldBe(K4);
        f.Table.IovaToPhys(2 * K4).ShouldBe(Oa + (2 * K4));
        f.Table.UnmapPages(K4, K4, gather, out unmapped).ShouldBe(Errno.ENOENT);
        unmapped.ShouldBe(0UL);
        f.Table.IotlbSync(gather);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Unmap_RunsOfOnePageLeavesLongerThanABurst_ClearEveryItemAndStopAtAHole()
    {
        var f = NewFixture();
        ulong va = 4 * M2;
        // An output address aligned to 4 KiB only: 512 leaves of one item in one table.
        f.Table.MapPages(va, Oa + K4, K4, 512, IommuProt.Read, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(M2);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [12] = 512 });

        var gather = new IotlbGather();
        // A hole at item 300, in the second burst after the first item.
        f.Table.UnmapPages(va + (300 * K4), K4, gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(K4);
        f.Table.UnmapPages(va + K4, M2 - K4, gather, out unmapped).ShouldBe(Errno.ENOENT);
        unmapped.ShouldBe(299 * K4);
        f.Table.IovaToPhys(va).ShouldBe(Oa + K4);
        f.Table.IovaToPhys(va + (299 * K4)).ShouldBe(0UL);
        f.Table.IovaToPhys(va + (301 * K4)).ShouldBe(Oa + (302 * K4));

        f.Table.UnmapPages(va + (301 * K4), M2 - (301 * K4), gather, out unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(M2 - (301 * K4));
        gather.FreeList.ShouldBeEmpty();
        f.Table.IotlbSync(gather);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [12] = 1 });
        f.Table.IovaToPhys(va + M2 - K4).ShouldBe(0UL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Unmap_OnePageLeavesAroundALargerEntryInOneTable_RemovesThemAll()
    {
        var f = NewFixture();
        // The largest entry below 2 MiB that a leaf table holds, or 4 KiB where the format has none.
        int bigLg2 = Sizes(f.Table.PageSizeBitmap, 20).Max();
        ulong big = 1UL << bigLg2;
        ulong va = 4 * M2;
        f.Table.MapPages(va, Oa + K4, K4, big / K4, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Map(va + big, Oa + big, big);
        f.Table.MapPages(va + (2 * big), Oa + K4, K4, 3, IommuProt.Read, out _).ShouldBe(Errno.Ok);

        var gather = new IotlbGather();
        f.Table.UnmapPages(va, (2 * big) + (3 * K4), gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe((2 * big) + (3 * K4));
        f.Table.IotlbSync(gather);
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Unmap_FromInsideATableOnIntoALargeLeafAfterIt()
    {
        var f = NewFixture();
        f.Map(M2 - (4 * K4), Oa, 4 * K4);
        f.Map(M2, Oa + M2, M2);
        var gather = new IotlbGather();
        f.Table.UnmapPages(M2 - (4 * K4), M2 + (4 * K4), gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(M2 + (4 * K4));
        f.Table.IovaToPhys(M2).ShouldBe(0UL);
        f.Table.IovaToPhys(M2 - K4).ShouldBe(0UL);
        f.Table.IotlbSync(gather);
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_OnePageOverAPageOrALargePage_IsEaddrinuseAndKeepsIt()
    {
        var f = NewFixture();
        f.Map(0, Oa, K4);
        f.Table.MapPages(0, Oa + M2, K4, 1, IommuProt.Read, out ulong mapped).ShouldBe(Errno.EADDRINUSE);
        mapped.ShouldBe(0UL);
        f.Table.IovaToPhys(0).ShouldBe(Oa);

        f.Map(G1, Oa + G1, M2);
        f.Table.MapPages(G1 + K4, Oa, K4, 1, IommuProt.Read, out mapped).ShouldBe(Errno.EADDRINUSE);
        mapped.ShouldBe(0UL);
        f.Table.IovaToPhys(G1 + K4).ShouldBe(Oa + G1 + K4);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [12] = 1, [21] = 1 });
        f.Unmap(0, K4);
        f.Unmap(G1, M2);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_RunsIntoAMappedPage_StopsAtTheEntryThatHoldsIt()
    {
        // Leaves of one item past a burst, and every larger size a leaf table holds.
        var f = NewFixture();
        foreach (int lg2 in Sizes(f.Table.PageSizeBitmap, 21))
        {
            ulong size = 1UL << lg2;
            // An odd count, so that the call uses this size and no larger one.
            ulong count = lg2 == 12 ? 401UL : 7UL;
            ulong va = 8 * G1;
            ulong busy = lg2 == 12 ? 300UL : 2UL;
            f.Map(va + (busy * size) + (size - K4), Oa, K4);
            f.Table.MapPages(va, Oa, size, count, IommuProt.Read, out ulong mapped).ShouldBe(Errno.EADDRINUSE, $"size 2^{lg2}");
            mapped.ShouldBe(busy * size, $"size 2^{lg2}");
            f.Table.IovaToPhys(va + mapped - K4).ShouldBe(Oa + mapped - K4);
            // The entry that holds the mapped page stays as it was: empty but for that page.
            if (size > K4)
                f.Table.IovaToPhys(va + mapped).ShouldBe(0UL);
            f.Table.IovaToPhys(va + (busy * size) + (size - K4)).ShouldBe(Oa);
            f.Unmap(va, busy * size).ShouldBe(busy * size);
            f.Unmap(va + (busy * size) + (size - K4), K4).ShouldBe(K4);
            f.Table.Dump().ShouldBeEmpty($"size 2^{lg2}");
        }
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Unmap_FreesCoveredTablesOnlyAfterTheFlush()
    {
        var f = NewFixture();
        // 512 pages fill one whole level-0 table.
        ulong va = 4 * M2;
        for (ulong page = 0; page < 512; page++)
            f.Table.MapPages(va + (page * K4), Oa + (page * K4), K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        long inUse = f.Allocator.FramesInUse;
        ulong leafTable = TableWalker.LeafItemPa(f.Table, f.Memory, va) & ~(K4 - 1);

        var gather = new IotlbGather();
        f.Table.UnmapPages(va, M2, gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(M2);
        gather.FreeList.ShouldBe([leafTable]);
        f.Allocator.FramesInUse.ShouldBe(inUse);
        f.Allocator.IsAllocated(leafTable).ShouldBeTrue();

        bool flushedWhileAllocated = false;
        f.Driver.OnFlush = (start, last) => flushedWhileAllocated = start == va && last == va + M2 - 1 && f.Allocator.IsAllocated(leafTable);
        f.Table.IotlbSync(gather);
        flushedWhileAllocated.ShouldBeTrue();
        f.Allocator.IsAllocated(leafTable).ShouldBeFalse();
        f.Allocator.FramesInUse.ShouldBe(inUse - 1);
        gather.IsEmpty.ShouldBeTrue();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void RandomMap_1000Iterations_AgainstAnIntervalMap()
    {
        var f = NewFixture();
        var random = new Random(20251121);
        var ranges = new SortedDictionary<ulong, ulong>();
        ulong oaMask = (1UL << TFormat.MaxOaBits) - 1;
        bool upper = Config.SignExtend;
        ulong upperBase = upper ? 0UL - (1UL << (f.Table.VaBits - 1)) : 0;
        int collisions = 0;
        for (int iter = 0; iter < 1000; iter++)
        {
            ulong rangeBase = upper && random.Next(2) == 1 ? upperBase : 0;
            ulong start = (ulong)random.NextInt64(0, (long)G1) & ~(K4 - 1);
            ulong length = ((ulong)random.NextInt64(0, (long)(G1 - start)) + K4 - 1) & ~(K4 - 1);
            if (length == 0)
                continue;
            start += rangeBase;
            ulong pa = start & oaMask;
            var err = BareTable.Map(f.Table, start, pa, length, IommuProt.Read | IommuProt.Write);
            if (err != Errno.Ok)
            {
                err.ShouldBe(Errno.EADDRINUSE);
                collisions++;
                foreach (var (s, l) in ranges.Where(r => r.Key < start + length && r.Key + r.Value > start).ToList())
                {
                    CheckIova(f.Table, s, s & oaMask, l);
                    f.Unmap(s, l).ShouldBe(l);
                    ranges.Remove(s);
                }
                f.Map(start, pa, length);
            }
            ranges.Add(start, length);
            CheckIova(f.Table, start, pa, length);
        }
        collisions.ShouldBeGreaterThan(0);
        foreach (var (s, l) in ranges)
            f.Unmap(s, l).ShouldBe(l);
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void PageSizeBoundary_MapsAcrossTheSmallSizeBoundary()
    {
        var f = NewFixture();
        f.Map(0xfef80000, 0x208b95d000, 0xfef9ffff - 0xfef80000 + 1);
        CheckIova(f.Table, 0xfef80000, 0x208b95d000, 0x20000);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [12] = 32 });
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Mixed_RangeUsesTwoMegAndOneGigPages()
    {
        var f = new PtFixture<TFormat>(Config with { PageSizes = (1UL << 12) | (1UL << 21) | (1UL << 30) });
        ulong start = 0x3fe400UL << 12;
        ulong end = 0x4c0600UL << 12;
        f.Map(start, start, end - start);
        // 14 x 2M, 3 x 1G, 3 x 2M
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [21] = 17, [30] = 3 });
        CheckIova(f.Table, start, start, end - start);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_UsesOneSizeForTheWholeCall()
    {
        var f = NewFixture();
        // 2M-aligned addresses but a length of 2M + 4K: only 4K pages tile it exactly.
        f.Table.MapPages(M2, M2, K4, 513, IommuProt.Read, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(M2 + K4);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [12] = 513 });
        // Aligned and long enough: the largest size fits.
        f.Table.MapPages(G1, G1, M2, 512, IommuProt.Read, out mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(G1);
        f.Table.TryLookup(G1, out var entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(30);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_OverAnExistingLeaf_IsEaddrinuseAndCountsWhatWasMapped()
    {
        var f = NewFixture();
        f.Map(4 * K4, Oa, K4);
        // An odd output address forces 4K pages.
        f.Table.MapPages(0, Oa + K4, K4, 8, IommuProt.Read, out ulong mapped).ShouldBe(Errno.EADDRINUSE);
        mapped.ShouldBe(4 * K4);
        f.Table.IovaToPhys(4 * K4).ShouldBe(Oa);
        f.Table.IovaToPhys(3 * K4).ShouldBe(Oa + (4 * K4));

        // A large page over mapped small pages, and small pages inside a large page, collide too.
        f.Table.MapPages(0, 0, M2, 1, IommuProt.Read, out mapped).ShouldBe(Errno.EADDRINUSE);
        mapped.ShouldBe(0UL);
        f.Map(G1, Oa, M2);
        f.Table.MapPages(G1 + K4, 0, K4, 1, IommuProt.Read, out mapped).ShouldBe(Errno.EADDRINUSE);
        f.Table.MapPages(G1 + M2 - K4, 0, K4, 2, IommuProt.Read, out mapped).ShouldBe(Errno.EADDRINUSE);
        mapped.ShouldBe(0UL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_LargePageOverEmptyTables_FreesThemAfterAFlush()
    {
        var f = NewFixture();
        f.Map(G1, Oa, K4);
        f.Unmap(G1, K4).ShouldBe(K4);
        long inUse = f.Allocator.FramesInUse;
        f.Driver.Flushes.Clear();
        f.Map(G1, Oa, M2);
        f.Driver.Flushes.ShouldBe([(G1, G1 + M2 - 1)]);
        f.Allocator.FramesInUse.ShouldBe(inUse - 1);
        f.Table.IovaToPhys(G1 + K4).ShouldBe(Oa + K4);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_LargePagesOverALaterEmptyTable_FlushItsRange()
    {
        var f = NewFixture();
        f.Map(G1 + M2, Oa, K4);
        f.Unmap(G1 + M2, K4).ShouldBe(K4);
        f.Driver.Flushes.Clear();
        f.Table.MapPages(G1, Oa, M2, 2, IommuProt.Read, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(2 * M2);
        f.Driver.Flushes.ShouldBe([(G1 + M2, G1 + (2 * M2) - 1)]);
        f.DeinitAndCheckNoLeak();
    }

    [Theory]
    [InlineData(IommuProt.None, 4096UL, 1UL, Errno.EINVAL)]
    [InlineData(IommuProt.Cache, 4096UL, 1UL, Errno.EINVAL)]
    [InlineData(IommuProt.Read, 0UL, 1UL, Errno.EINVAL)]
    [InlineData(IommuProt.Read, 4096UL, 0UL, Errno.EINVAL)]
    [InlineData(IommuProt.Read, 1UL << 40, 1UL << 40, Errno.EOVERFLOW)]
    [InlineData(IommuProt.Write, 2048UL, 1UL, Errno.ENXIO)]
    public void MapPages_RejectsBadArguments(IommuProt prot, ulong pgsize, ulong pgcount, Errno expected)
    {
        var f = NewFixture();
        f.Table.MapPages(0, 0, pgsize, pgcount, prot, out ulong mapped).ShouldBe(expected);
        mapped.ShouldBe(0UL);
        f.Table.Dump().ShouldBeEmpty();
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_RangeErrors()
    {
        var f = NewFixture();
        f.Table.MapPages(ulong.MaxValue - K4 + 1, 0, K4, 2, IommuProt.Read, out _).ShouldBe(Errno.EOVERFLOW);
        f.Table.MapPages(0, (1UL << TFormat.MaxOaBits) - K4, K4, 2, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.MapPages(0, 1UL << TFormat.MaxOaBits, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.MapPages(0, ulong.MaxValue - K4 + 1, K4, 2, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.MapPages(K4, K4 * 3, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void MapPages_RunsOutOfFramesWithEnomem()
    {
        var f = new PtFixture<TFormat>(Config, zoneSize: 2 * K4);
        // The top takes one frame, the first table below it the other.
        f.Table.MapPages(0, 0, K4, 1, IommuProt.Read, out ulong mapped).ShouldBe(Errno.ENOMEM);
        mapped.ShouldBe(0UL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void AttributeRoundTrip_EveryProtection()
    {
        var f = NewFixture();
        ulong va = 0;
        foreach (var prot in new[] { IommuProt.Read, IommuProt.Write, IommuProt.Read | IommuProt.Write, IommuProt.Read | IommuProt.Cache, IommuProt.Read | IommuProt.NoExec, IommuProt.Write | IommuProt.NoExec })
        {
            f.Table.MapPages(va, Oa + va, K4, 1, prot, out _).ShouldBe(Errno.Ok);
            f.Table.TryLookup(va, out var entry).ShouldBeTrue();
            entry.Prot.ShouldBe(Normalized(prot));
            // What was asked for is granted.
            (entry.Prot & prot & (IommuProt.Read | IommuProt.Write)).ShouldBe(prot & (IommuProt.Read | IommuProt.Write));
            va += K4;
        }
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void ContiguousEntries_TranslateEveryItem()
    {
        var f = NewFixture();
        foreach (int lg2 in Sizes(f.Table.PageSizeBitmap, 30))
        {
            int level = PtGeometry.LevelOfSize(lg2);
            int itemLg2 = PtGeometry.ItemLg2(level);
            if (lg2 == itemLg2)
                continue;
            ulong size = 1UL << lg2;
            ulong va = 4 * size;
            f.Map(va, Oa, size);
            for (ulong item = 0; item < size >> itemLg2; item++)
            {
                ulong itemVa = va + (item << itemLg2);
                f.Table.IovaToPhys(itemVa).ShouldBe(Oa + (item << itemLg2));
                f.Table.TryLookup(itemVa, out var entry).ShouldBeTrue();
                entry.Iova.ShouldBe(va);
                entry.SizeLg2.ShouldBe(lg2);
            }
            f.Table.IovaToPhys(va - 1).ShouldBe(0UL);
            f.Table.IovaToPhys(va + size).ShouldBe(0UL);
            f.Unmap(va, size).ShouldBe(size);
        }
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void ReadAndClearDirty_ReportsWholeEntriesAndCleans()
    {
        var f = NewFixture();
        f.Map(0, Oa, 16 * K4, IommuProt.Read);
        f.Map(M2, Oa, M2, IommuProt.Read);
        var probe = new IovaBitmap(0, 2 * M2);
        f.Table.ReadAndClearDirty(0, 2 * M2, DirtyFlags.None, probe, new IotlbGather()).ShouldBe(Errno.Ok);
        probe.Count().ShouldBe(0UL);

        // Play the IOMMU: set D on one 4K page and on one item of the 2M page.
        SetDirty(f, 3 * K4);
        SetDirty(f, M2 + (5 * K4));
        f.Table.TryLookup(3 * K4, out var small).ShouldBeTrue();
        small.Dirty.ShouldBeTrue();
        // Formats with contiguous entries report all of the entry that holds the page.
        ulong smallPages = small.Size / K4;

        var bitmap = new IovaBitmap(0, 2 * M2);
        var gather = new IotlbGather();
        f.Table.ReadAndClearDirty(0, 2 * M2, DirtyFlags.NoClear, bitmap, gather).ShouldBe(Errno.Ok);
        bitmap.Count().ShouldBe(smallPages + 512);
        bitmap.IsSet(3 * K4).ShouldBeTrue();
        bitmap.IsSet(M2).ShouldBeTrue();
        bitmap.IsSet((2 * M2) - K4).ShouldBeTrue();
        gather.HasRange.ShouldBeFalse();

        bitmap = new IovaBitmap(0, 2 * M2);
        f.Table.ReadAndClearDirty(0, 2 * M2, DirtyFlags.None, bitmap, gather).ShouldBe(Errno.Ok);
        bitmap.Count().ShouldBe(smallPages + 512);
        gather.Start.ShouldBe(small.Iova);
        gather.End.ShouldBe((2 * M2) - 1);

        bitmap = new IovaBitmap(0, 2 * M2);
        f.Table.ReadAndClearDirty(0, 2 * M2, DirtyFlags.None, bitmap, new IotlbGather()).ShouldBe(Errno.Ok);
        bitmap.Count().ShouldBe(0UL);
        f.Table.TryLookup(3 * K4, out small).ShouldBeTrue();
        small.Dirty.ShouldBeFalse();

        // A window inside a large entry reports only the window.
        SetDirty(f, M2);
        bitmap = new IovaBitmap(0, 2 * M2);
        f.Table.ReadAndClearDirty(M2 + (8 * K4), 2 * K4, DirtyFlags.None, bitmap, new IotlbGather()).ShouldBe(Errno.Ok);
        bitmap.Count().ShouldBe(2UL);
        f.Table.ReadAndClearDirty(0, 0, DirtyFlags.None, bitmap, new IotlbGather()).ShouldBe(Errno.EINVAL);

        // Deeper in the table, where item addresses are not zero.
        ulong far = (3 * G1) + (5 * M2) + (3 * K4);
        f.Table.MapPages(far, Oa + K4, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        SetDirty(f, far);
        bitmap = new IovaBitmap(3 * G1, G1);
        f.Table.ReadAndClearDirty(3 * G1, G1, DirtyFlags.None, bitmap, new IotlbGather()).ShouldBe(Errno.Ok);
        bitmap.Count().ShouldBe(1UL);
        bitmap.IsSet(far).ShouldBeTrue();
        f.DeinitAndCheckNoLeak();
    }

    private static void SetDirty(PtFixture<TFormat> f, ulong iova)
    {
        ulong itemPa = TableWalker.LeafItemPa(f.Table, f.Memory, iova);
        f.Memory.WriteU64(itemPa, f.Memory.ReadU64(itemPa) | TFormat.DirtyBit);
    }

    [Fact]
    public void Cut_SplitsALargePageHitlessly_AndMergeRestoresIt()
    {
        var watching = new WatchingMemory(new PhysicalMemory());
        var f = new PtFixture<TFormat>(Config, watching);
        ulong va = 2 * G1;
        ulong pa = 5 * G1;
        f.Map(va, pa, G1, IommuProt.Read);
        long before = f.Allocator.FramesInUse;
        var probes = new List<ulong> { va, va + G1 - K4 };
        ulong cut = va + (3 * M2) + (5 * K4);
        ulong step = (37 * M2 / 3) & ~(K4 - 1);
        for (ulong offset = 0; offset < G1; offset += step)
            probes.Add(va + offset);
        probes.AddRange([cut - K4, cut, cut + K4, cut - M2, cut + M2]);
        int checks = 0;
        watching.AfterStore = () =>
        {
            checks++;
            foreach (ulong probe in probes)
                f.Table.IovaToPhys(probe).ShouldBe(pa + (probe - va), $"0x{probe:x} during the change");
        };

        f.Table.Cut(cut).ShouldBe(Errno.Ok);
        checks.ShouldBeGreaterThan(0);
        f.Driver.Flushes.ShouldContain((va, va + G1 - 1));
        var entries = f.Table.Dump();
        entries.ShouldAllBe(e => !(e.Iova < cut && cut - e.Iova < e.Size));
        var model = new ReferenceMap();
        model.Map(va, pa, G1, 30, Normalized(IommuProt.Read));
        model.Cut(cut, f.Table.PageSizeBitmap);
        entries.Select(e => (e.Iova, e.Size, e.Oa)).ShouldBe(model.Entries.Select(e => (e.Iova, e.Size, e.Oa)));
        f.Allocator.FramesInUse.ShouldBeGreaterThan(before);

        // A second cut on a boundary changes nothing.
        int stores = watching.Stores;
        f.Table.Cut(cut).ShouldBe(Errno.Ok);
        f.Table.Cut(va).ShouldBe(Errno.Ok);
        watching.Stores.ShouldBe(stores);

        bool freedAfterFlush = true;
        f.Driver.OnFlush = (_, _) => freedAfterFlush &= f.Allocator.FramesInUse > before;
        f.Driver.Flushes.Clear();
        f.Table.Merge(va, G1).ShouldBe(Errno.Ok);
        freedAfterFlush.ShouldBeTrue();
        f.Driver.Flushes.ShouldContain((va, va + G1 - 1));
        f.Table.Dump().ShouldBe([new PtEntryInfo(va, pa, 30, 2, Normalized(IommuProt.Read), false)]);
        f.Allocator.FramesInUse.ShouldBe(before);
        watching.AfterStore = null;
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Cut_ThenUnmapEitherSide()
    {
        var f = NewFixture();
        f.Map(M2, Oa, M2);
        ulong cut = M2 + (7 * K4);
        f.Table.Cut(cut).ShouldBe(Errno.Ok);
        var gather = new IotlbGather();
        f.Table.UnmapPages(cut, (2 * M2) - cut, gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe((2 * M2) - cut);
        f.Table.IotlbSync(gather);
        f.Table.IovaToPhys(cut - K4).ShouldBe(Oa + (6 * K4));
        f.Table.IovaToPhys(cut).ShouldBe(0UL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Cut_EdgeCases()
    {
        var f = NewFixture();
        f.Table.Cut(K4 + 1).ShouldBe(Errno.EINVAL);
        f.Table.Cut(5 * K4).ShouldBe(Errno.Ok);
        f.Map(M2, Oa, M2);
        f.Table.Cut(M2 + (M2 / 2)).ShouldBe(Errno.Ok);
        f.Table.Cut(M2 + (M2 / 2) + K4).ShouldBe(Errno.Ok);
        f.Table.IovaToPhys(M2 + (M2 / 2) + K4).ShouldBe(Oa + (M2 / 2) + K4);
        f.Table.Dump().ShouldAllBe(e => e.Iova + e.Size <= M2 + (M2 / 2) || e.Iova >= M2 + (M2 / 2));
        if (!Config.SignExtend)
            f.Table.Cut(f.Table.VaBits >= 64 ? 0 : 1UL << f.Table.VaBits).ShouldBe(f.Table.VaBits >= 64 ? Errno.Ok : Errno.ERANGE);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Cut_WithoutFrames_IsEnomemAndChangesNothing()
    {
        var f = new PtFixture<TFormat>(Config, zoneSize: 32 * K4);
        f.Map(G1, Oa, G1);
        var before = f.Table.Dump();
        var hoarded = new List<ulong>();
        while (f.Allocator.TryAlloc(out ulong frame))
            hoarded.Add(frame);
        long exhausted = f.Allocator.FramesInUse;
        f.Table.Cut(G1 + K4).ShouldBe(Errno.ENOMEM);
        f.Table.Dump().ShouldBe(before);
        f.Allocator.FramesInUse.ShouldBe(exhausted);

        // With one frame short of what the split needs, the one it got goes back too.
        f.Allocator.Free(hoarded[^1]);
        hoarded.RemoveAt(hoarded.Count - 1);
        f.Table.Cut(G1 + K4).ShouldBe(Errno.ENOMEM);
        f.Table.Dump().ShouldBe(before);
        f.Allocator.FramesInUse.ShouldBe(exhausted - 1);
        hoarded.ForEach(f.Allocator.Free);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Merge_KeepsDifferentAttributesAndNonLinearRunsApart()
    {
        var f = NewFixture();
        f.Map(0, Oa, M2 - K4, IommuProt.Read);
        f.Map(M2 - K4, Oa + M2 - K4, K4, IommuProt.Read | IommuProt.Write);
        f.Map(M2, Oa + (4 * M2), M2 / 2, IommuProt.Read);
        f.Map(M2 + (M2 / 2), Oa + (4 * M2) + (M2 / 2) + K4 * 16, M2 / 2, IommuProt.Read);
        var model = new ReferenceMap();
        foreach (var e in f.Table.Dump())
            model.Map(e.Iova, e.Oa, e.Size, e.SizeLg2, e.Prot);
        f.Table.Merge(0, 2 * M2).ShouldBe(Errno.Ok);
        model.Merge(0, 2 * M2, f.Table.PageSizeBitmap);
        f.Table.Dump().Select(e => (e.Iova, e.Size, e.Oa, e.Prot)).ShouldBe(model.Entries.Select(e => (e.Iova, e.Size, e.Oa, e.Prot)));
        f.Table.TryLookup(M2 - K4, out var odd).ShouldBeTrue();
        odd.Size.ShouldBe(K4);
        f.Table.Merge(K4, 1).ShouldBe(Errno.EINVAL);
        f.Table.Merge(0, 0).ShouldBe(Errno.EINVAL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Merge_OrsTheDirtyBitsIntoTheNewLeaf()
    {
        var f = NewFixture();
        for (ulong page = 0; page < 512; page++)
            f.Table.MapPages(M2 + (page * K4), Oa + (page * K4), K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        // Two dirty pages: the bits are ORed, not toggled.
        SetDirty(f, M2 + (77 * K4));
        SetDirty(f, M2 + (78 * K4));
        f.Table.Merge(M2, M2).ShouldBe(Errno.Ok);
        f.Table.Dump().ShouldBe([new PtEntryInfo(M2, Oa, 21, 1, Normalized(IommuProt.Read), true)]);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void IotlbGather_NoGapsMode_FlushesBeforeADisjointRange()
    {
        var f = new PtFixture<TFormat>(Config with { FlushMode = IotlbFlushMode.FlushRangeNoGaps });
        for (ulong page = 0; page < 4; page++)
            f.Table.MapPages(page * K4, Oa + (page * K4), K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Map(M2, Oa, K4);
        var gather = new IotlbGather();
        f.Table.UnmapPages(0, K4, gather, out _).ShouldBe(Errno.Ok);
        f.Table.UnmapPages(K4, K4, gather, out _).ShouldBe(Errno.Ok);
        f.Driver.Flushes.ShouldBeEmpty();
        f.Table.UnmapPages(M2, K4, gather, out _).ShouldBe(Errno.Ok);
        f.Driver.Flushes.ShouldBe([(0UL, (2 * K4) - 1)]);
        (gather.Start, gather.End).ShouldBe((M2, M2 + K4 - 1));
        f.Table.IotlbSync(gather);
        f.Driver.Flushes.Count.ShouldBe(2);

        var g = new PtFixture<TFormat>(Config);
        g.Map(0, Oa, K4);
        g.Map(M2, Oa, K4);
        g.Table.UnmapPages(0, K4, gather, out _).ShouldBe(Errno.Ok);
        g.Table.UnmapPages(M2, K4, gather, out _).ShouldBe(Errno.Ok);
        g.Driver.Flushes.ShouldBeEmpty();
        (gather.Start, gather.End).ShouldBe((0UL, M2 + K4 - 1));
        g.Table.IotlbSync(gather);
        g.Driver.Flushes.ShouldBe([(0UL, M2 + K4 - 1)]);
    }

    [Fact]
    public void Deinit_FreesEverything_AndLaterUseIsABug()
    {
        var f = NewFixture();
        f.Map(0, Oa, 3 * M2 + K4 * 5);
        f.Map(7 * G1, Oa, G1);
        f.DeinitAndCheckNoLeak();
        Should.Throw<ObjectDisposedException>(() => f.Table.IovaToPhys(0)).Message.ShouldContain("after Deinit");
        Should.Throw<ObjectDisposedException>(() => f.Table.Deinit());
        Should.Throw<ObjectDisposedException>(() => f.Table.MapPages(0, 0, K4, 1, IommuProt.Read, out _));
    }

    [Fact]
    public void ConcurrentMapPages_OnDisjointRanges_RaceToInstallTables()
    {
        const int Threads = 4;
        const int PagesPerThread = 2048;
        var f = NewFixture();
        var errors = Race.Run(Threads, (t, report) =>
        {
            // Interleaved pages: every thread needs the same tables at the same moment.
            for (int i = 0; i < PagesPerThread; i++)
            {
                ulong page = (ulong)((i * Threads) + t);
                ulong va = G1 + (page * 64 * K4);
                report(f.Table.MapPages(va, Oa + (page * K4), K4, 1, IommuProt.Read, out _));
            }
        });
        errors.ShouldAllBe(e => e == Errno.Ok);
        for (ulong page = 0; page < Threads * PagesPerThread; page++)
            f.Table.IovaToPhys(G1 + (page * 64 * K4)).ShouldBe(Oa + (page * K4));
        f.Table.Dump().Count.ShouldBe(Threads * PagesPerThread);
        // Each lost install gave its frame straight back; everything else is a table of the tree.
        f.Allocator.FramesInUse.ShouldBe(TableWalker.CountTables(f.Table, f.Memory));
        f.Allocator.TotalFrees.ShouldBe(f.Table.LostTableInstalls);
        f.DeinitAndCheckNoLeak();
    }
}
