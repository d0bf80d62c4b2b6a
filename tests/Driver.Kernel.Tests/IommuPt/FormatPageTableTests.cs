using Driver.Kernel.IommuPt;
using Driver.Kernel.Tests.Support;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

public sealed class AmdV1PageTableTests : PageTableContract<AmdV1Format>
{
    // As Linux's AMD driver: three levels to start with, growing on demand.
    protected override PtConfig Config => new() { TopLevel = 2, DynamicTop = true };

    [Fact]
    public void IncreaseLevel_GrowsOneLevelAtATime_WithoutAFlush()
    {
        var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 0, DynamicTop = true });
        f.Map(0, Oa, 4096);
        for (int level = 0; level < AmdV1Format.MaxTopLevel; level++)
        {
            f.Table.TopLevel.ShouldBe(level);
            ulong beyond = 1UL << PtGeometry.TableLg2(level);
            f.Map(beyond, Oa, 4096);
            f.Table.TopLevel.ShouldBe(level + 1);
            f.Driver.TopChanges[^1].ShouldBe((f.Table.TopPa, level + 1));
            f.Table.IovaToPhys(0).ShouldBe(Oa);
            f.Table.IovaToPhys(beyond).ShouldBe(Oa);
        }
        f.Driver.Flushes.ShouldBeEmpty();
        f.Table.MapPages(ulong.MaxValue - 4095, Oa, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Table.TopLevel.ShouldBe(5);
        // A run of pages through the full walk under the tallest top.
        ulong high = (5UL << 57) + (1UL << 40);
        f.Table.MapPages(high, Oa + 4096, 4096, 3, IommuProt.Read, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(3 * 4096UL);
        f.Table.IovaToPhys(high + 8192 + 7).ShouldBe(Oa + 12288 + 7);
        f.Table.Dump().Count.ShouldBe(10);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void IncreaseLevel_JumpsSeveralLevels_AndStopsAtTheHardwareLimit()
    {
        var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 1, DynamicTop = true, VaBits = 48 });
        f.Map(1UL << 40, Oa, 4096);
        f.Table.TopLevel.ShouldBe(3);
        f.Driver.TopChanges.ShouldBe([(f.Table.TopPa, 3)]);
        f.Table.MapPages(1UL << 48, Oa, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.TopLevel.ShouldBe(3);
        // A 1 TiB page needs a level-3 leaf: it fits under the level-3 top.
        f.Table.MapPages(1UL << 41, 0, 1UL << 40, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void IncreaseLevel_ForALeafTallerThanTheTop_AndFailingHalfway()
    {
        var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 1, DynamicTop = true, VaBits = 48 });
        // 1 GiB fits in the space a level-1 top covers, but its leaf lives at level 2.
        f.Table.MapPages(0, 0, 1UL << 30, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Table.TopLevel.ShouldBe(2);
        long inUse = f.Allocator.FramesInUse;
        f.Table.MapPages(1UL << 48, 0, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Allocator.FramesInUse.ShouldBe(inUse);
        f.Table.TopLevel.ShouldBe(2);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void BeyondTheCurrentTop_NothingIsMapped()
    {
        var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 0, DynamicTop = true });
        ulong end = 2UL << 20;
        f.Map(end - 4096, Oa, 4096);
        var gather = new IotlbGather();
        f.Table.UnmapPages(end - 1, 2, gather, out ulong unmapped).ShouldBe(Errno.EINVAL);
        f.Table.UnmapPages(end - 4096, 8192, gather, out unmapped).ShouldBe(Errno.ENOENT);
        unmapped.ShouldBe(4096UL);
        f.Table.IotlbSync(gather);
        f.Table.UnmapPages(end, 4096, gather, out unmapped).ShouldBe(Errno.ENOENT);
        f.Table.ReadAndClearDirty(1UL << 40, 4096, DirtyFlags.None, new IovaBitmap(0, 4096), gather).ShouldBe(Errno.Ok);
        f.Table.Merge(1UL << 40, 4096).ShouldBe(Errno.Ok);
        f.Table.Cut(1UL << 40).ShouldBe(Errno.Ok);
        f.Table.TopLevel.ShouldBe(0);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Merge_LeavesEntriesThatReachOutsideTheRange()
    {
        var f = new PtFixture<AmdV1Format>(Config);
        ulong m2 = 2UL << 20;
        f.Table.MapPages(0, Oa, m2, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Table.MapPages(m2, Oa + m2, m2, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Table.Merge(0, (2 * m2) - 4096).ShouldBe(Errno.Ok);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [21] = 2 });
        f.Table.Merge(0, 2 * m2).ShouldBe(Errno.Ok);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [22] = 1 });
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void SizedLeafOverALaterEmptyTable_FlushesThatItemOnly()
    {
        var f = new PtFixture<AmdV1Format>(Config);
        ulong g1 = 1UL << 30;
        ulong m2 = 2UL << 20;
        f.Map(g1 + m2, Oa, 4096);
        f.Unmap(g1 + m2, 4096).ShouldBe(4096UL);
        f.Driver.Flushes.Clear();
        f.Table.MapPages(g1, Oa, 2 * m2, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        f.Driver.Flushes.ShouldBe([(g1 + m2, g1 + (2 * m2) - 1)]);
        f.Table.TryLookup(g1, out var entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(22);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void OneItemLeafRun_AcrossATableBoundary_ReplacesAnEmptyTableAndStopsAtAMappedPage()
    {
        var f = new PtFixture<AmdV1Format>(Config);
        ulong g1 = 1UL << 30;
        // Items 257..511 of one level-2 table and item 0 of the next: 256 leaves of one item each.
        ulong va = 257 * g1;
        // Item 300 holds tables but no translation: the run replaces them and flushes that item only.
        f.Map(300 * g1, Oa, 4096);
        f.Unmap(300 * g1, 4096).ShouldBe(4096UL);
        f.Driver.Flushes.Clear();
        f.Table.MapPages(va, Oa, g1, 256, IommuProt.Read, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(256 * g1);
        f.Driver.Flushes.ShouldBe([(300 * g1, (301 * g1) - 1)]);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [30] = 256 });
        f.Table.IovaToPhys(va).ShouldBe(Oa);
        f.Table.IovaToPhys((300 * g1) + 5).ShouldBe(Oa + (43 * g1) + 5);
        f.Table.IovaToPhys((512 * g1) + 7).ShouldBe(Oa + (255 * g1) + 7);
        f.Table.IovaToPhys(256 * g1).ShouldBe(0UL);
        f.Table.IovaToPhys(513 * g1).ShouldBe(0UL);
        f.Table.TryLookup(512 * g1, out var entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(30);

        var gather = new IotlbGather();
        f.Table.UnmapPages(va, 256 * g1, gather, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(256 * g1);
        f.Table.IotlbSync(gather);
        f.Table.Dump().ShouldBeEmpty();

        // A page mapped under item 400: the run stops before the leaf that would cover it.
        f.Map((400 * g1) + 4096, Oa, 4096);
        f.Table.MapPages(va, Oa, g1, 256, IommuProt.Read, out mapped).ShouldBe(Errno.EADDRINUSE);
        mapped.ShouldBe(143 * g1);
        f.Table.IovaToPhys((399 * g1) + 9).ShouldBe(Oa + (142 * g1) + 9);
        f.Table.IovaToPhys(400 * g1).ShouldBe(0UL);
        f.Table.IovaToPhys((400 * g1) + 4096).ShouldBe(Oa);
        f.Table.IovaToPhys(401 * g1).ShouldBe(0UL);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [30] = 143, [12] = 1 });
        f.Unmap(va, 143 * g1).ShouldBe(143 * g1);
        f.Unmap((400 * g1) + 4096, 4096).ShouldBe(4096UL);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void IncreaseLevel_RunsOutOfFramesCleanly()
    {
        var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 0, DynamicTop = true }, zoneSize: 3 * 4096);
        f.Table.MapPages(1UL << 40, Oa, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ENOMEM);
        f.Table.TopLevel.ShouldBe(0);
        f.Allocator.FramesInUse.ShouldBe(1);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void ConcurrentMaps_RaceToGrowTheTop_AndLosersFreeTheirTables()
    {
        const int Threads = 4;
        for (int round = 0; round < 8; round++)
        {
            var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 0, DynamicTop = true });
            var errors = Race.Run(Threads, (t, report) =>
            {
                // Each thread needs a taller top than the last: they grow it at the same time.
                for (int step = 1; step <= 4; step++)
                {
                    ulong va = (1UL << PtGeometry.TableLg2(step)) - ((ulong)(t + 1) * 4096);
                    report(f.Table.MapPages(va, Oa, 4096, 1, IommuProt.Read, out _));
                }
            });
            errors.ShouldAllBe(e => e == Errno.Ok);
            f.Table.TopLevel.ShouldBe(4);
            for (int step = 1; step <= 4; step++)
            {
                for (int t = 0; t < Threads; t++)
                    f.Table.IovaToPhys((1UL << PtGeometry.TableLg2(step)) - ((ulong)(t + 1) * 4096)).ShouldBe(Oa);
            }
            f.Driver.TopChanges.Select(c => c.TopLevel).ShouldBe(f.Driver.TopChanges.Select(c => c.TopLevel).Order());
            f.DeinitAndCheckNoLeak();
        }
    }

    [Fact]
    public void FixedTop_OutOfRangeIsErange()
    {
        var f = new PtFixture<AmdV1Format>(new PtConfig { TopLevel = 2 });
        f.Table.PageSizeBitmap.ShouldBe(AmdV1Format.PossibleSizes(0) | AmdV1Format.PossibleSizes(1) | AmdV1Format.PossibleSizes(2));
        f.Table.MapPages(1UL << 39, Oa, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.UnmapPages(1UL << 39, 4096, new IotlbGather(), out _).ShouldBe(Errno.ERANGE);
        f.Table.IovaToPhys(1UL << 39).ShouldBe(0UL);
        f.Table.ReadAndClearDirty(1UL << 39, 4096, DirtyFlags.None, new IovaBitmap(0, 4096), new IotlbGather()).ShouldBe(Errno.ERANGE);
        f.Table.Merge(1UL << 39, 4096).ShouldBe(Errno.ERANGE);
        f.Table.Cut(1UL << 39).ShouldBe(Errno.ERANGE);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void SizedPages_AreReplicatedAndSplitAsBuddies()
    {
        var f = new PtFixture<AmdV1Format>(Config);
        f.Map(0x10000, Oa, 0x10000);
        for (ulong item = 0; item < 16; item++)
            f.Memory.ReadU64(TableWalker.LeafItemPa(f.Table, f.Memory, 0x10000 + (item * 4096)))
                .ShouldBe(AmdV1Format.MakeLeaf(Oa, 16, 0, AmdV1Format.AttrsFromProt(IommuProt.Read | IommuProt.Write)));
        f.Table.Cut(0x14000).ShouldBe(Errno.Ok);
        f.Table.Dump().Select(e => (e.Iova, e.SizeLg2)).ShouldBe([(0x10000UL, 14), (0x14000UL, 14), (0x18000UL, 15)]);
        f.Table.Merge(0x10000, 0x10000).ShouldBe(Errno.Ok);
        f.Table.Dump().Select(e => (e.Iova, e.SizeLg2)).ShouldBe([(0x10000UL, 16)]);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void Cut_Of512GRegion_GoesThroughATableBecause512GPagesDoNotExist()
    {
        var f = new PtFixture<AmdV1Format>(Config);
        f.Map(1UL << 41, 1UL << 41, 1UL << 40);
        f.Table.TopLevel.ShouldBe(3);
        f.Table.Cut((1UL << 41) + (1UL << 39)).ShouldBe(Errno.Ok);
        var sizes = f.Table.Dump().Select(e => e.SizeLg2).ToList();
        sizes.ShouldBe(Enumerable.Repeat(38, 4).ToList());
        f.Table.Merge(1UL << 41, 1UL << 40).ShouldBe(Errno.Ok);
        f.Table.Dump().Select(e => e.SizeLg2).ShouldBe([40]);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void OneTebibyteGuestWithTwoMegPages_TouchesOnlyTableFrames()
    {
        var memory = new Driver.Platform.Memory.PhysicalMemory();
        var f = new PtFixture<AmdV1Format>(Config with { PageSizes = (1UL << 12) | (1UL << 21) }, memory);
        f.Table.MapPages(0, 1UL << 40, 2UL << 20, 1UL << 19, IommuProt.Read | IommuProt.Write, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(1UL << 40);
        f.Table.IovaToPhys((1UL << 40) - 1).ShouldBe((2UL << 40) - 1);
        // 1024 level-1 tables, two level-2 tables, the top: nothing of the guest itself.
        memory.TouchedFrames.ShouldBe(f.Allocator.FramesInUse);
        f.Allocator.FramesInUse.ShouldBe(1024 + 2 + 1);
        f.DeinitAndCheckNoLeak();
    }
}

public sealed class X86PageTableTests : PageTableContract<X86Format>
{
    // Four-level, sign-extended: the lower and upper 47-bit halves.
    protected override PtConfig Config => new() { TopLevel = 3, SignExtend = true };

    [Fact]
    public void FiveLevels_AndCanonicalAddressesOnly()
    {
        var f = new PtFixture<X86Format>(new PtConfig { TopLevel = 4, SignExtend = true });
        f.Table.VaBits.ShouldBe(57);
        f.Map(0xFF00_0000_0000_0000, Oa, 1UL << 30);
        f.Table.IovaToPhys(0xFF00_0000_0000_1234).ShouldBe(Oa + 0x1234);
        f.Table.MapPages(1UL << 56, Oa, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.MapPages((1UL << 56) - 4096, Oa, 4096, 2, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.Table.IovaToPhys(1UL << 56).ShouldBe(0UL);
        f.Table.Dump().ShouldBe([new PtEntryInfo(0xFF00_0000_0000_0000, Oa, 30, 2, IommuProt.Read | IommuProt.Write, true)]);
        f.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void WithoutSignExtension_TheTableCoversTheLowerRangeOnly()
    {
        var f = new PtFixture<X86Format>(new PtConfig { TopLevel = 3, VaBits = 47 });
        f.Map((1UL << 47) - 4096, Oa, 4096);
        f.Table.MapPages(1UL << 47, Oa, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        f.DeinitAndCheckNoLeak();
    }
}

public sealed class RiscvPageTableTests : PageTableContract<RiscvFormat>
{
    // Sv39, with Svnapot's 64 KiB pages.
    protected override PtConfig Config => new() { TopLevel = 2, SignExtend = true };

    [Fact]
    public void Sv48AndSv57_HoldLeavesAtEveryLevel()
    {
        var sv48 = new PtFixture<RiscvFormat>(new PtConfig { TopLevel = 3, SignExtend = true });
        sv48.Table.PageSizeBitmap.ShouldBe((1UL << 12) | (1UL << 16) | (1UL << 21) | (1UL << 30) | (1UL << 39));
        sv48.Map(1UL << 39, Oa & ~((1UL << 39) - 1), 1UL << 39);
        sv48.Table.TryLookup((1UL << 39) + 5, out var entry).ShouldBeTrue();
        entry.Level.ShouldBe(3);
        sv48.DeinitAndCheckNoLeak();

        var sv57 = new PtFixture<RiscvFormat>(new PtConfig { TopLevel = 4, SignExtend = true });
        sv57.Table.VaBits.ShouldBe(57);
        sv57.Table.PageSizeBitmap.ShouldBe((1UL << 12) | (1UL << 16) | (1UL << 21) | (1UL << 30) | (1UL << 39) | (1UL << 48));
        sv57.DeinitAndCheckNoLeak();
    }

    [Fact]
    public void WithoutSvnapot_SixtyFourKIsFourKPages()
    {
        var f = new PtFixture<RiscvFormat>(new PtConfig { TopLevel = 2, SignExtend = true, PageSizes = (1UL << 12) | (1UL << 21) | (1UL << 30) });
        f.Map(0x10000, Oa, 0x10000);
        f.CountBySize().ShouldBe(new Dictionary<int, int> { [12] = 16 });
        f.DeinitAndCheckNoLeak();
    }
}
