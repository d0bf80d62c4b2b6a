using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>The stage-2 table on its own: 4K and 2M leaves, fill-and-merge, zaps by kind with one flush, cuts, destroy.</summary>
public sealed class KvmStage2Tests
{
    private const ulong Gfn = 0x40200;   // a 2M-aligned guest frame with bit 9 set
    private const ulong Pfn = 0x123600;  // a 2M-aligned host frame with bit 9 set

    private static KvmStage2 NewStage2(CapturedLogs? logs = null) => NewStage2(out _, logs);

    private static KvmStage2 NewStage2(out FrameAllocator frames, CapturedLogs? logs = null)
    {
        var memory = new PhysicalMemory();
        frames = new FrameAllocator(memory, 0x1000_0000, 256 * Page.Size, logs);
        KvmStage2.Create(memory, frames, logs, out KvmStage2? stage2).ShouldBe(Errno.Ok);
        return stage2!;
    }

    private static string Leaf(KvmStage2 s2, ulong gfn) =>
        s2.TryLookup(gfn, out ulong pfn, out int order, out bool p) ? $"{pfn:x}:{order}:{(p ? "p" : "s")}" : "-";

    [Fact]
    public void ANewTable_HasARootAndNothingMapped()
    {
        KvmStage2 s2 = NewStage2();
        s2.RootPa.ShouldNotBe(0UL);
        s2.MappedPages.ShouldBe(0);
        s2.TlbFlushes.ShouldBe(0);
        Leaf(s2, Gfn).ShouldBe("-");
        s2.Map(Gfn + 1, Pfn + 1, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.TryLookup(Gfn, out ulong pfn, out int order, out bool isPrivate).ShouldBeFalse();
        (pfn, order, isPrivate).ShouldBe((0UL, 0, false));
    }

    [Fact]
    public void WithoutFramesForTheRoot_CreateIsEnomem()
    {
        var memory = new PhysicalMemory();
        var frames = new FrameAllocator(memory, 0x1000_0000, Page.Size, null);
        frames.TryAlloc(out _).ShouldBeTrue();
        KvmStage2.Create(memory, frames, null, out KvmStage2? stage2).ShouldBe(Errno.ENOMEM);
        stage2.ShouldBeNull();
    }

    [Fact]
    public void A4KLeaf_IsKept_WhenTheSameGfnIsMappedAgain()
    {
        KvmStage2 s2 = NewStage2();
        s2.Map(Gfn + 3, Pfn + 7, 0, isPrivate: true).ShouldBe(Errno.Ok);
        Leaf(s2, Gfn + 3).ShouldBe($"{Pfn + 7:x}:0:p");
        Leaf(s2, Gfn + 2).ShouldBe("-");
        Leaf(s2, Gfn + 4).ShouldBe("-");
        s2.MappedPages.ShouldBe(1);
        s2.Map(Gfn + 3, Pfn + 9, 0, isPrivate: false).ShouldBe(Errno.Ok, "already mapped: kept as it is");
        Leaf(s2, Gfn + 3).ShouldBe($"{Pfn + 7:x}:0:p");
        s2.Map(Gfn + 4, Pfn + 8, 0, isPrivate: false).ShouldBe(Errno.Ok);
        Leaf(s2, Gfn + 4).ShouldBe($"{Pfn + 8:x}:0:s");
        s2.MappedPages.ShouldBe(2);
    }

    [Fact]
    public void A2MLeaf_MapsTheWholeRunFromItsHead_AndA4KMapInsideItChangesNothing()
    {
        KvmStage2 s2 = NewStage2();
        s2.Map(Gfn + 5, Pfn + 5, 9, isPrivate: true).ShouldBe(Errno.Ok);
        Leaf(s2, Gfn).ShouldBe($"{Pfn:x}:9:p");
        Leaf(s2, Gfn + 511).ShouldBe($"{Pfn + 511:x}:9:p");
        Leaf(s2, Gfn + 512).ShouldBe("-");
        s2.MappedPages.ShouldBe(512);
        s2.Map(Gfn + 6, 0x999, 0, isPrivate: false).ShouldBe(Errno.Ok);
        Leaf(s2, Gfn + 6).ShouldBe($"{Pfn + 6:x}:9:p");
        s2.Map(Gfn, Pfn + 512, 9, isPrivate: false).ShouldBe(Errno.Ok, "a 2M leaf is there already");
        Leaf(s2, Gfn).ShouldBe($"{Pfn:x}:9:p");
    }

    [Fact]
    public void A2MMapOver4KLeaves_FillsTheRestAndMerges_OrIsEexistWhenALeafMapsAnotherFrame()
    {
        var logs = new CapturedLogs();
        KvmStage2 s2 = NewStage2(logs);
        s2.Map(Gfn + 1, Pfn + 1, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 300, Pfn + 300, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 2, Pfn + 2, 9, isPrivate: true).ShouldBe(Errno.Ok);
        Leaf(s2, Gfn + 300).ShouldBe($"{Pfn + 300:x}:9:p");
        Leaf(s2, Gfn).ShouldBe($"{Pfn:x}:9:p");
        s2.MappedPages.ShouldBe(512);
        logs.Single(6026, LogLevel.Debug).GetStructuredStateValue("Gfn").ShouldBe(CapturedLogs.Value(Gfn));
        s2.Zap(Gfn + 2, Gfn + 4, Stage2Zap.Private, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(2, "the merged leaf is one 2M leaf: cut, then two pages go");
        Leaf(s2, Gfn + 4).ShouldBe($"{Pfn + 4:x}:0:p");
        s2.Map(Gfn + 2, Pfn + 2, 9, isPrivate: true).ShouldBe(Errno.Ok);
        Leaf(s2, Gfn + 2).ShouldBe($"{Pfn + 2:x}:9:p");

        ulong other = Gfn + 512;
        s2.Map(other + 1, Pfn + 0x2000, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(other, Pfn + 512, 9, isPrivate: true).ShouldBe(Errno.EEXIST);
        Leaf(s2, other + 1).ShouldBe($"{Pfn + 0x2000:x}:0:p", "the leaf in the way stays");
        logs.All.Count(r => r.Id.Id == 6026).ShouldBe(2);
    }

    [Fact]
    public void ZapOfAWhole2MLeaf_RemovesIt_WithOneFlush_AndPrintsWhatWent_LeavingItsNeighboursWhole()
    {
        var logs = new CapturedLogs();
        KvmStage2 s2 = NewStage2(logs);
        s2.Map(Gfn, Pfn, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 512, Pfn + 512, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 1024, Pfn + 1024, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Zap(Gfn + 5, Gfn + 5, Stage2Zap.All, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(0);
        Leaf(s2, Gfn + 5).ShouldBe($"{Pfn + 5:x}:9:p", "an empty range cuts nothing");

        s2.Zap(Gfn + 512, Gfn + 1024, Stage2Zap.All, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(512);
        Leaf(s2, Gfn + 512).ShouldBe("-");
        Leaf(s2, Gfn + 511).ShouldBe($"{Pfn + 511:x}:9:p");
        Leaf(s2, Gfn + 1024).ShouldBe($"{Pfn + 1024:x}:9:p");
        logs.All.Count(r => r.Id.Id == 6027).ShouldBe(0, "neither neighbour is cut");
        s2.TlbFlushes.ShouldBe(1);
        var record = logs.Single(6028, LogLevel.Debug);
        record.GetStructuredStateValue("First").ShouldBe(CapturedLogs.Value(Gfn + 512));
        record.GetStructuredStateValue("End").ShouldBe(CapturedLogs.Value(Gfn + 1024));
        record.GetStructuredStateValue("Which").ShouldBe("All");
        record.GetStructuredStateValue("Pages").ShouldBe("512");

        s2.Map(Gfn + 512, Pfn + 512, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Zap(Gfn, Gfn + 513, Stage2Zap.All, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(513);
        s2.TlbFlushes.ShouldBe(2, "one flush for the whole range");
        s2.MappedPages.ShouldBe(512);

        s2.Zap(Gfn, Gfn + 1024, Stage2Zap.All, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(0);
        s2.TlbFlushes.ShouldBe(2, "nothing to flush");
        logs.All.Count(r => r.Id.Id == 6028).ShouldBe(2);
        s2.Zap(Gfn + 5, Gfn + 4, Stage2Zap.All, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(0);
    }

    [Theory]
    [InlineData(0UL, 2UL, "2:510")]
    [InlineData(510UL, 512UL, "0:510")]
    [InlineData(100UL, 103UL, "0:100,103:409")]
    public void ZapOfPartOfA2MLeaf_CutsItFirst_AndKeepsTheRestAt4K(ulong from, ulong to, string kept)
    {
        var logs = new CapturedLogs();
        KvmStage2 s2 = NewStage2(logs);
        s2.Map(Gfn, Pfn, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Zap(Gfn + from, Gfn + to, Stage2Zap.Private, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe((long)(to - from));
        s2.MappedPages.ShouldBe(512 - (long)(to - from));
        logs.Single(6027, LogLevel.Debug).GetStructuredStateValue("Gfn").ShouldBe(CapturedLogs.Value(Gfn));
        var runs = new List<string>();
        for (ulong i = 0; i < 512;)
        {
            if (Leaf(s2, Gfn + i) == "-")
            {
                i++;
                continue;
            }
            ulong start = i;
            while (i < 512 && Leaf(s2, Gfn + i) == $"{Pfn + i:x}:0:p")
                i++;
            runs.Add($"{start}:{i - start}");
            if (i == start)
                throw new ShouldAssertException($"gfn +{i}: {Leaf(s2, Gfn + i)}");
        }
        string.Join(",", runs).ShouldBe(kept);
    }

    [Fact]
    public void AZapByKind_LeavesTheOtherKind_AndA2MLeafOfTheOtherKindIsNotCut()
    {
        KvmStage2 s2 = NewStage2();
        s2.Map(Gfn, Pfn, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 512, Pfn + 512, 0, isPrivate: false).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 513, Pfn + 513, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 514, Pfn + 514, 0, isPrivate: false).ShouldBe(Errno.Ok);

        s2.Zap(Gfn + 3, Gfn + 520, Stage2Zap.Shared, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(2);
        Leaf(s2, Gfn + 3).ShouldBe($"{Pfn + 3:x}:9:p", "a private 2M leaf is not even cut");
        Leaf(s2, Gfn + 512).ShouldBe("-");
        Leaf(s2, Gfn + 513).ShouldBe($"{Pfn + 513:x}:0:p");
        Leaf(s2, Gfn + 514).ShouldBe("-");

        s2.Zap(Gfn, Gfn + 1024, Stage2Zap.Private, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(513);
        s2.MappedPages.ShouldBe(0);
    }

    [Fact]
    public void AZapOverAVastRange_FindsTheFewBlocksMapped_UpToItsLast()
    {
        var logs = new CapturedLogs();
        KvmStage2 s2 = NewStage2(logs);
        ulong far = Gfn + (1UL << 24);
        s2.Map(far, Pfn + 1024, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn, Pfn, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + (1UL << 20), Pfn + 1, 0, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Zap(Gfn + 1, far, Stage2Zap.All, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(1);
        Leaf(s2, Gfn).ShouldBe($"{Pfn:x}:0:p");
        Leaf(s2, far + 3).ShouldBe($"{Pfn + 1027:x}:9:p");
        logs.All.Count(r => r.Id.Id == 6027).ShouldBe(0);
        s2.Zap(Gfn, far + 1, Stage2Zap.All, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(2);
        Leaf(s2, far).ShouldBe("-");
        Leaf(s2, far + 1).ShouldBe($"{Pfn + 1025:x}:0:p");
        s2.Zap(0, 1UL << 36, Stage2Zap.All, out zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(511);
        s2.MappedPages.ShouldBe(0);
    }

    [Fact]
    public void Split_CutsA2MLeafInto4KLeavesOverTheSameFrames_AndIsOkWhereThereIsNone()
    {
        var logs = new CapturedLogs();
        KvmStage2 s2 = NewStage2(logs);
        s2.Split(Gfn).ShouldBe(Errno.Ok);
        s2.Map(Gfn, Pfn, 9, isPrivate: false).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 512, Pfn + 512, 0, isPrivate: false).ShouldBe(Errno.Ok);
        s2.Split(Gfn + 512).ShouldBe(Errno.Ok);
        logs.All.Count(r => r.Id.Id == 6027).ShouldBe(0);
        s2.Split(Gfn + 77).ShouldBe(Errno.Ok);
        for (ulong i = 0; i < 512; i += 73)
            Leaf(s2, Gfn + i).ShouldBe($"{Pfn + i:x}:0:s");
        Leaf(s2, Gfn + 511).ShouldBe($"{Pfn + 511:x}:0:s");
        s2.MappedPages.ShouldBe(513);
        logs.Single(6027, LogLevel.Debug).GetStructuredStateValue("Gfn").ShouldBe(CapturedLogs.Value(Gfn));
        s2.Split(Gfn).ShouldBe(Errno.Ok, "already 4K");
        s2.Zap(Gfn + 1, Gfn + 2, Stage2Zap.All, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(1);
        Leaf(s2, Gfn + 2).ShouldBe($"{Pfn + 2:x}:0:s");
        logs.All.Count(r => r.Id.Id == 6027).ShouldBe(1, "nothing left to cut");
    }

    [Fact]
    public void AfterDestroy_NothingIsMapped_MapIsEfault_AndZapAndSplitAreOk()
    {
        KvmStage2 s2 = NewStage2(out FrameAllocator frames);
        s2.Map(Gfn, Pfn, 9, isPrivate: true).ShouldBe(Errno.Ok);
        s2.Map(Gfn + 512, Pfn + 512, 0, isPrivate: true).ShouldBe(Errno.Ok);
        frames.FramesInUse.ShouldBeGreaterThan(1);
        s2.Destroy();
        frames.FramesInUse.ShouldBe(0, "every table is freed");
        Leaf(s2, Gfn).ShouldBe("-");
        s2.MappedPages.ShouldBe(0);
        s2.Map(Gfn + 512, Pfn, 0, isPrivate: true).ShouldBe(Errno.EFAULT);
        s2.Zap(Gfn, Gfn + 512, Stage2Zap.All, out long zapped).ShouldBe(Errno.Ok);
        zapped.ShouldBe(0);
        s2.Split(Gfn).ShouldBe(Errno.Ok);
        s2.Destroy();
    }

    [Fact]
    public void TheFlusher_CountsFlushes_AndTheRootNeverMoves()
    {
        var flusher = new KvmTlbFlusher();
        flusher.FlushIotlb(0, 0xFFF);
        flusher.FlushIotlb(0x1000, 0x1FFF);
        flusher.Flushes.ShouldBe(2);
        Should.Throw<InvalidOperationException>(() => flusher.ChangeTop(0x1000, 4)).Message.ShouldContain("fixed top");
    }
}
