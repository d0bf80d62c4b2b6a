using Driver.Kernel.Kvm;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// SNP's RMP steps against mocked helpers: which step failed (what KVM prints), why a run stays 4K, orders above 2M,
/// a 4K-tracked run given back page by page, and the bookkeeping of one 2M run.
/// </summary>
public sealed class SnpRmpStepLogTests
{
    private const ushort Asid = 5;
    private const ulong Head = 0x40200;
    private const ulong HeadGfn = 0x80000;

    private sealed class Parts
    {
        public Mock<ISnpRmpHelpers> Rmp { get; } = new(MockBehavior.Strict);

        public Mock<IGuestMemfdGfnLookup> Gfns { get; } = new();

        public CapturedLogs Logs { get; } = new();

        public SnpGuestMemfdArch Arch { get; }

        public GuestMemfd File { get; } = new GmemFixture().Create(M2);

        public Parts(ulong gfnBase = HeadGfn)
        {
            ulong gfn;
            Gfns.Setup(g => g.TryGetGfn(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), out gfn))
                .Returns((GuestMemfd _, ulong index, out ulong g) =>
                {
                    g = gfnBase + index;
                    return index < 512;
                });
            Arch = new SnpGuestMemfdArch(Rmp.Object, Asid, Gfns.Object, Logs);
        }

        public string FailedStep()
        {
            var record = Logs.Single(6024, LogLevel.Warning);
            record.Category.ShouldBe("Driver.Kernel.Kvm.SnpGuestMemfdArch");
            return $"{record.GetStructuredStateValue("What")}@{record.GetStructuredStateValue("Pfn")}:{record.GetStructuredStateValue("Errno")}";
        }

        public void Whole()
        {
            Rmp.Setup(r => r.RmpMakePrivate(Head << 12, HeadGfn << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
            Arch.Prepare(HeadGfn, Head, 9, out _).ShouldBe(Errno.Ok);
        }

        // The run as 512 4K guest entries after a split, then one page made shared and private again.
        public void SplitAndFresh()
        {
            Whole();
            Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
            Rmp.Setup(r => r.RmpMakeShared((Head + 1) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
            Rmp.Setup(r => r.RmpMakePrivate((Head + 1) << 12, (HeadGfn + 1) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
            Arch.SplitFolio(File, 0, Head, 9).ShouldBe(Errno.Ok);
            Arch.MakeShared(File, 1, Head + 1).ShouldBe(Errno.Ok);
            Arch.MakePrivate(File, 1, Head + 1).ShouldBe(Errno.Ok);
        }
    }

    [Fact]
    public void AFailedPrepare_NamesItsSize()
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(Head << 12, HeadGfn << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.EBUSY);
        p.Arch.Prepare(HeadGfn + 3, Head + 3, 9, out _).ShouldBe(Errno.EBUSY);
        p.FailedStep().ShouldBe($"prepare at 2M@{Head}:EBUSY");

        var q = new Parts();
        q.Rmp.Setup(r => r.RmpMakePrivate((Head + 3) << 12, (HeadGfn + 3) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.EIO);
        q.Arch.Prepare(HeadGfn + 3, Head + 3, 0, out _).ShouldBe(Errno.EIO);
        q.FailedStep().ShouldBe($"prepare at 4K@{Head + 3}:EIO");
    }

    [Fact]
    public void APrepare_PrintsTheGfnAndPfnOfTheEntry_AtItsSize()
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(Head << 12, HeadGfn << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 300, Head + 300, 9, out _).ShouldBe(Errno.Ok);
        var huge = p.Logs.Single(6020, LogLevel.Debug);
        huge.GetStructuredStateValue("Gfn").ShouldBe(CapturedLogs.Value(HeadGfn));
        huge.GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(Head));

        var q = new Parts();
        q.Rmp.Setup(r => r.RmpMakePrivate((Head + 3) << 12, (HeadGfn + 3) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        q.Arch.Prepare(HeadGfn + 3, Head + 3, 0, out _).ShouldBe(Errno.Ok);
        var small = q.Logs.Single(6020, LogLevel.Debug);
        small.GetStructuredStateValue("Gfn").ShouldBe(CapturedLogs.Value(HeadGfn + 3));
        small.GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(Head + 3));
        small.GetStructuredStateValue("Order").ShouldBe("0");
    }

    [Fact]
    public void FailedSplitUnsmashAndSmash_NameTheirStep()
    {
        var p = new Parts();
        p.Whole();
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.EBUSY);
        p.Arch.SplitFolio(p.File, 0, Head, 9).ShouldBe(Errno.EBUSY);
        p.FailedStep().ShouldBe($"PSMASH@{Head}:EBUSY");

        var q = new Parts();
        q.Whole();
        q.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        q.Arch.SplitFolio(q.File, 0, Head, 9).ShouldBe(Errno.Ok);
        q.Rmp.Setup(r => r.Unsmash(Head << 12)).Returns(Errno.EIO);
        q.Arch.UnsplitFolio(q.File, 0, Head, 9).ShouldBe(Errno.EIO);
        q.FailedStep().ShouldBe($"unsmash@{Head}:EIO");
    }

    [Fact]
    public void FailedPageChanges_NameTheirStep()
    {
        var p = new Parts();
        p.Whole();
        p.Arch.MakeShared(p.File, 2, Head + 2).ShouldBe(Errno.EINVAL);
        p.FailedStep().ShouldBe($"make shared inside a 2M entry@{Head + 2}:EINVAL");

        var q = new Parts();
        q.Rmp.Setup(r => r.RmpMakePrivate((Head + 2) << 12, (HeadGfn + 2) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.EFAULT);
        q.Arch.MakePrivate(q.File, 2, Head + 2).ShouldBe(Errno.EFAULT);
        q.FailedStep().ShouldBe($"make private@{Head + 2}:EFAULT");

        var third = new Parts();
        third.Rmp.Setup(h => h.RmpMakePrivate((Head + 2) << 12, (HeadGfn + 2) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        third.Arch.MakePrivate(third.File, 2, Head + 2).ShouldBe(Errno.Ok);
        third.Rmp.Setup(h => h.RmpMakeShared((Head + 2) << 12, RmpPageLevel.Level4K)).Returns(Errno.EIO);
        third.Arch.MakeShared(third.File, 2, Head + 2).ShouldBe(Errno.EIO);
        third.FailedStep().ShouldBe($"make shared@{Head + 2}:EIO");
        Should.Throw<ArgumentNullException>(() => third.Arch.MakePrivate(null!, 2, Head + 2));
    }

    [Fact]
    public void AMerge_SaysWhyTheRunStays4K()
    {
        var p = new Parts();
        p.Whole();
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Arch.SplitFolio(p.File, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.MergeFolio(p.File, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Logs.Single(6023, LogLevel.Debug).GetStructuredStateValue("Reason").ShouldBe("no page became private since the split");

        var q = new Parts(gfnBase: HeadGfn + 1);
        q.Rmp.Setup(r => r.RmpMakePrivate(Head << 12, (HeadGfn + 1) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        q.Rmp.Setup(r => r.RmpMakePrivate(It.Is<ulong>(spa => spa > Head << 12), It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        for (ulong i = 0; i < 512; i++)
            q.Arch.MakePrivate(q.File, i, Head + i).ShouldBe(Errno.Ok);
        q.Arch.MergeFolio(q.File, 0, Head, 9).ShouldBe(Errno.Ok);
        q.Logs.Single(6023, LogLevel.Debug).GetStructuredStateValue("Reason").ShouldBe("the run is not one guest range at one 2M GPA");
        q.Rmp.Verify(r => r.TryRmpMakePrivate2M(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ushort>()), Times.Never);

        var third = new Parts();
        third.SplitAndFresh();
        third.Rmp.Setup(h => h.TryRmpMakePrivate2M(Head << 12, HeadGfn << 12, Asid)).Returns(Errno.EBUSY);
        third.Arch.MergeFolio(third.File, 0, Head, 9).ShouldBe(Errno.Ok);
        third.Logs.Single(6023, LogLevel.Debug).GetStructuredStateValue("Reason").ShouldBe("the guest keeps pages of the run validated (RMPUPDATE at 2M: OVERLAP)");

        var fourth = new Parts();
        fourth.SplitAndFresh();
        fourth.Rmp.Setup(h => h.TryRmpMakePrivate2M(Head << 12, HeadGfn << 12, Asid)).Returns(Errno.EFAULT);
        fourth.Arch.MergeFolio(fourth.File, 0, Head, 9).ShouldBe(Errno.EFAULT);
        fourth.FailedStep().ShouldBe($"RMPUPDATE at 2M@{Head}:EFAULT");
    }

    [Fact]
    public void AMergeOfARunNotTracked_IsNothingToDo()
    {
        var p = new Parts();
        p.Arch.MergeFolio(p.File, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.TrackedBlocks.ShouldBe(0);
        p.Rmp.VerifyNoOtherCalls();
    }

    [Fact]
    public void OrdersAbove2M_AreTreatedAs2M()
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(Head << 12, HeadGfn << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn, Head, 10, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Arch.SplitFolio(p.File, 0, Head, 10).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head).ShouldBe(0);
        p.Rmp.Setup(r => r.Unsmash(Head << 12)).Returns(Errno.Ok);
        p.Arch.UnsplitFolio(p.File, 0, Head, 10).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head).ShouldBe(9);
        p.Rmp.Verify(r => r.Psmash(Head << 12), Times.Once);
        p.Rmp.Verify(r => r.Unsmash(Head << 12), Times.Once);

        var q = new Parts();
        q.SplitAndFresh();
        q.Rmp.Setup(h => h.TryRmpMakePrivate2M(Head << 12, HeadGfn << 12, Asid)).Returns(Errno.Ok);
        q.Arch.MergeFolio(q.File, 0, Head, 10).ShouldBe(Errno.Ok);
        q.Arch.RmpOrder(Head + 1).ShouldBe(9);
    }

    [Fact]
    public void Invalidating2MOf4KEntries_GivesBackEachAssignedPage_AtItsOwnFrame()
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 1, Head + 1, 0, out _).ShouldBe(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 7, Head + 7, 0, out _).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 1) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 7) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
        p.Arch.Invalidate(Head, 9).ShouldBe(Errno.Ok);
        p.Arch.TrackedBlocks.ShouldBe(0);
        p.Rmp.Verify(r => r.RmpMakeShared(It.IsAny<ulong>(), It.IsAny<RmpPageLevel>()), Times.Exactly(2));
    }

    [Fact]
    public void TheRunsBookkeeping_CountsAssignedPages()
    {
        var block = new SnpRmpBlock();
        block.Empty.ShouldBeTrue();
        block.SetAssigned(70, true);
        block.SetAssigned(70, true);
        block.SetAssigned(3, true);
        block.AssignedCount.ShouldBe(2);
        block.IsAssigned(70).ShouldBeTrue();
        block.IsAssigned(6).ShouldBeFalse();
        block.IsAssigned(3).ShouldBeTrue();
        block.SetAssigned(70, false);
        block.AssignedCount.ShouldBe(1);
        block.IsAssigned(70).ShouldBeFalse();
        block.SetAssigned(511, true);
        block.IsAssigned(511).ShouldBeTrue();
        block.AssignedCount.ShouldBe(2);

        block.SetRun(whole: true);
        block.Whole.ShouldBeTrue();
        block.AssignedCount.ShouldBe(0);
        block.Empty.ShouldBeFalse();
        block.SetRun(whole: false);
        block.AssignedCount.ShouldBe(512);
        block.IsAssigned(511).ShouldBeTrue();
        block.SetAssigned(0, false);
        block.AssignedCount.ShouldBe(511);
        block.Clear();
        block.Empty.ShouldBeTrue();
        block.IsAssigned(1).ShouldBeFalse();
    }
}
