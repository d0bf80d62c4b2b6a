using Driver.Kernel.Kvm;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>SNP's RMP part of guest_memfd and KVM's conversion logic against mocked RMP helpers and notifiers.</summary>
public sealed class SnpGuestMemfdArchTests
{
    private const ushort Asid = 7;
    private const ulong Head = 0x40200; // a 2M-aligned frame
    private const ulong HeadGfn = 0x80000;

    private sealed class Parts
    {
        public Mock<ISnpRmpHelpers> Rmp { get; } = new(MockBehavior.Strict);

        public Mock<IGuestMemfdGfnLookup> Gfns { get; } = new();

        public CapturedLogs Logs { get; } = new();

        public SnpGuestMemfdArch Arch { get; }

        public Parts()
        {
            ulong gfn;
            Gfns.Setup(g => g.TryGetGfn(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), out gfn))
                .Returns((GuestMemfd _, ulong index, out ulong g) =>
                {
                    g = HeadGfn + index;
                    return index < 1024;
                });
            Arch = new SnpGuestMemfdArch(Rmp.Object, Asid, Gfns.Object, Logs);
        }

        public void Prepared2M()
        {
            Rmp.Setup(r => r.RmpMakePrivate(Head << 12, HeadGfn << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
            Arch.Prepare(HeadGfn + 5, Head + 5, 9, out int order).ShouldBe(Errno.Ok);
            order.ShouldBe(9);
        }
    }

    [Fact]
    public void TheConstructor_RefusesAsid0AndNulls()
    {
        var gfns = new Mock<IGuestMemfdGfnLookup>().Object;
        var rmp = new Mock<ISnpRmpHelpers>().Object;
        Should.Throw<ArgumentOutOfRangeException>(() => new SnpGuestMemfdArch(rmp, 0, gfns));
        Should.Throw<ArgumentNullException>(() => new SnpGuestMemfdArch(null!, 1, gfns));
        Should.Throw<ArgumentNullException>(() => new SnpGuestMemfdArch(rmp, 1, null!));
        new SnpGuestMemfdArch(rmp, 1, gfns).Asid.ShouldBe((ushort)1);
    }

    [Fact]
    public void Prepare_OfA2MFolio_Is2M_Once_AndTheRunsOrderIs9()
    {
        var p = new Parts();
        p.Prepared2M();
        p.Arch.Prepare(HeadGfn, Head, 9, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        p.Arch.Prepare(HeadGfn, Head, 0, out order).ShouldBe(Errno.Ok);
        order.ShouldBe(0, "never above what the caller asks");
        p.Rmp.Verify(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<RmpPageLevel>(), It.IsAny<ushort>()), Times.Once);
        p.Arch.RmpOrder(Head + 511).ShouldBe(9);
        p.Arch.RmpOrder(Head + 512).ShouldBe(-1);
        p.Arch.TrackedBlocks.ShouldBe(1);
        p.Logs.Single(6020, LogLevel.Debug).GetStructuredStateValue("Order").ShouldBe("9");
    }

    [Theory]
    [InlineData(0, 0x80000UL, "a 4K folio")]
    [InlineData(9, 0x80001UL, "GPA and frame differ within 2M")]
    public void Prepare_Is4K_WhenThe2MRunCannotBeOne(int order, ulong gfn, string why)
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate((Head + 3) << 12, gfn << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(gfn, Head + 3, order, out int mappable).ShouldBe(Errno.Ok, why);
        mappable.ShouldBe(0);
        p.Arch.RmpOrder(Head + 3).ShouldBe(0);
        p.Arch.RmpOrder(Head + 4).ShouldBe(-1);
        p.Arch.Prepare(gfn, Head + 3, order, out _).ShouldBe(Errno.Ok, "already assigned: no second RMPUPDATE");
        p.Rmp.VerifyAll();
        p.Rmp.Verify(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<RmpPageLevel>(), It.IsAny<ushort>()), Times.Once);
    }

    [Fact]
    public void Prepare_WhenAPageOfTheRunIsAssignedAt4K_Is4KForTheNext()
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 1, Head + 1, 0, out _).ShouldBe(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 2, Head + 2, 9, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        p.Rmp.Verify(r => r.RmpMakePrivate((Head + 2) << 12, (HeadGfn + 2) << 12, RmpPageLevel.Level4K, Asid), Times.Once);
    }

    [Theory]
    [InlineData(9)]
    [InlineData(0)]
    public void AFailedPrepare_IsItsErrno_AndLeavesNothingTracked(int order)
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<RmpPageLevel>(), Asid)).Returns(Errno.EFAULT);
        p.Arch.Prepare(HeadGfn, Head, order, out int mappable).ShouldBe(Errno.EFAULT);
        mappable.ShouldBe(0);
        p.Arch.TrackedBlocks.ShouldBe(0);
        p.Arch.RmpOrder(Head).ShouldBe(-1);
        p.Logs.Single(6024, LogLevel.Warning).GetStructuredStateValue("Errno").ShouldBe("EFAULT");
    }

    [Fact]
    public void Split_Psmashes_AndItsUndoUnsmashes()
    {
        var p = new Parts();
        p.Prepared2M();
        var order = new List<string>();
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2);
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok).Callback(() => order.Add("psmash"));
        p.Rmp.Setup(r => r.Unsmash(Head << 12)).Returns(Errno.Ok).Callback(() => order.Add("unsmash"));

        p.Arch.SplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        order.ShouldBe(["psmash"]);
        p.Arch.RmpOrder(Head + 9).ShouldBe(0);
        p.Arch.IsHuge(Head + 9).ShouldBeFalse();
        p.Arch.SplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok, "already 4K");
        p.Arch.SplitFolio(file, 0, Head, 0).ShouldBe(Errno.Ok, "a 4K folio");
        p.Arch.UnsplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        order.Last().ShouldBe("unsmash");
        p.Arch.RmpOrder(Head + 9).ShouldBe(9);
        p.Arch.IsHuge(Head + 9).ShouldBeTrue();
        p.Arch.UnsplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok, "nothing left to undo");
        p.Arch.UnsplitFolio(file, 0, Head, 0).ShouldBe(Errno.Ok);
        p.Rmp.Verify(r => r.Psmash(It.IsAny<ulong>()), Times.Once);
        p.Rmp.Verify(r => r.Unsmash(It.IsAny<ulong>()), Times.Once);
    }

    [Fact]
    public void AFailedPsmash_OrUnsmash_IsItsErrno_AndTheRunKeepsItsSize()
    {
        var p = new Parts();
        p.Prepared2M();
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.EBUSY);
        p.Arch.SplitFolio(null!, 0, Head, 9).ShouldBe(Errno.EBUSY);
        p.Arch.RmpOrder(Head).ShouldBe(9);
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Arch.SplitFolio(null!, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.Unsmash(Head << 12)).Returns(Errno.EIO);
        p.Arch.UnsplitFolio(null!, 0, Head, 9).ShouldBe(Errno.EIO);
        p.Arch.RmpOrder(Head).ShouldBe(0);
    }

    [Fact]
    public void MakeShared_And_MakePrivate_Are4KRmpupdates_OfWhatIsAssigned()
    {
        var p = new Parts();
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2);
        p.Rmp.Setup(r => r.RmpMakePrivate((Head + 4) << 12, (HeadGfn + 4) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 4) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);

        p.Arch.MakeShared(file, 4, Head + 4).ShouldBe(Errno.Ok, "never assigned: nothing to do");
        p.Arch.MakePrivate(file, 4, Head + 4).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 4).ShouldBe(0);
        p.Arch.MakePrivate(file, 4, Head + 4).ShouldBe(Errno.Ok, "already assigned");
        p.Arch.MakeShared(file, 4, Head + 4).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 4).ShouldBe(-1);
        p.Arch.TrackedBlocks.ShouldBe(0);
        p.Arch.MakePrivate(file, 2000, Head + 6).ShouldBe(Errno.Ok, "no memslot: fault-in prepares it");
        p.Arch.RmpOrder(Head + 6).ShouldBe(-1);
        p.Rmp.Verify(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<RmpPageLevel>(), It.IsAny<ushort>()), Times.Once);
        p.Rmp.Verify(r => r.RmpMakeShared(It.IsAny<ulong>(), It.IsAny<RmpPageLevel>()), Times.Once);
    }

    [Fact]
    public void FailedPageUpdates_AreTheirErrno_AndChangeNothing()
    {
        var p = new Parts();
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2);
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.EFAULT);
        p.Arch.MakePrivate(file, 1, Head + 1).ShouldBe(Errno.EFAULT);
        p.Arch.TrackedBlocks.ShouldBe(0);
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.MakePrivate(file, 1, Head + 1).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared(It.IsAny<ulong>(), RmpPageLevel.Level4K)).Returns(Errno.EFAULT);
        p.Arch.MakeShared(file, 1, Head + 1).ShouldBe(Errno.EFAULT);
        p.Arch.RmpOrder(Head + 1).ShouldBe(0);
    }

    [Fact]
    public void MakeShared_InsideA2MEntry_IsEinval()
    {
        var p = new Parts();
        p.Prepared2M();
        p.Arch.MakeShared(null!, 3, Head + 3).ShouldBe(Errno.EINVAL);
        p.Arch.RmpOrder(Head + 3).ShouldBe(9);
    }

    [Fact]
    public void Merge_TriesA2MRmpupdate_OnlyAfterAPageBecamePrivate_AndAnOverlapKeeps4K()
    {
        var p = new Parts();
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2);
        p.Prepared2M();
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 8) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakePrivate((Head + 8) << 12, (HeadGfn + 8) << 12, RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.SplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);

        p.Arch.MergeFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head).ShouldBe(0, "no page became private since the split");
        p.Arch.MakeShared(file, 8, Head + 8).ShouldBe(Errno.Ok);
        p.Arch.MakePrivate(file, 8, Head + 8).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.TryRmpMakePrivate2M(Head << 12, HeadGfn << 12, Asid)).Returns(Errno.EBUSY);
        p.Arch.MergeFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head).ShouldBe(0);
        p.Arch.MergeFolio(file, 0, Head, 9).ShouldBe(Errno.Ok, "tried once per new private page");
        p.Rmp.Verify(r => r.TryRmpMakePrivate2M(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ushort>()), Times.Once);
        p.Logs.All.Count(r => r.Id.Id == 6023).ShouldBe(3);

        p.Arch.MakeShared(file, 8, Head + 8).ShouldBe(Errno.Ok);
        p.Arch.MakePrivate(file, 8, Head + 8).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.TryRmpMakePrivate2M(Head << 12, HeadGfn << 12, Asid)).Returns(Errno.Ok);
        p.Arch.MergeFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 8).ShouldBe(9);
        p.Arch.MergeFolio(file, 0, Head, 9).ShouldBe(Errno.Ok, "whole already");
        p.Arch.MergeFolio(file, 0, Head, 0).ShouldBe(Errno.Ok);
        p.Logs.Single(6022, LogLevel.Debug);
    }

    [Fact]
    public void Merge_NeedsOneGuestRangeAtA2MGpa_AndAnyOtherRefusalIsItsErrno()
    {
        var p = new Parts();
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * M2);
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 1024, Head, 9, out _).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 1) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakePrivate((Head + 1) << 12, It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.SplitFolio(file, 1024, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.MakeShared(file, 1, Head + 1).ShouldBe(Errno.Ok);
        p.Arch.MakePrivate(file, 1, Head + 1).ShouldBe(Errno.Ok);
        p.Arch.MergeFolio(file, 1024, Head, 9).ShouldBe(Errno.Ok, "file pages 1024.. have no GPA");
        p.Arch.RmpOrder(Head).ShouldBe(0);

        p.Arch.MakeShared(file, 1, Head + 1).ShouldBe(Errno.Ok);
        p.Arch.MakePrivate(file, 1, Head + 1).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.TryRmpMakePrivate2M(It.IsAny<ulong>(), It.IsAny<ulong>(), Asid)).Returns(Errno.EFAULT);
        p.Arch.MergeFolio(file, 0, Head, 9).ShouldBe(Errno.EFAULT);
        p.Arch.RmpOrder(Head).ShouldBe(0);
    }

    [Fact]
    public void Invalidate_GivesA2MRunBackAs4KHypervisorEntries_AndLeaksWhatItCannot()
    {
        var p = new Parts();
        p.Prepared2M();
        var seq = new MockSequence();
        p.Rmp.InSequence(seq).Setup(r => r.RmpMakeShared(Head << 12, RmpPageLevel.Level2M)).Returns(Errno.Ok);
        p.Rmp.InSequence(seq).Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Arch.Invalidate(Head, 9).ShouldBe(Errno.Ok);
        p.Arch.TrackedBlocks.ShouldBe(0);
        p.Arch.Invalidate(Head, 9).ShouldBe(Errno.Ok, "nothing assigned any more");

        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn, Head, 9, out _).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared(Head << 12, RmpPageLevel.Level2M)).Returns(Errno.EFAULT);
        p.Rmp.Setup(r => r.LeakPages(Head << 12, 512));
        p.Arch.Invalidate(Head, 9).ShouldBe(Errno.EFAULT);
        p.Rmp.Verify(r => r.LeakPages(Head << 12, 512), Times.Once);
        p.Logs.Single(6025, LogLevel.Error).GetStructuredStateValue("Pages").ShouldBe("512");
    }

    [Fact]
    public void Invalidate_Of4KPages_MakesTheAssignedOnesShared()
    {
        var p = new Parts();
        p.Rmp.Setup(r => r.RmpMakePrivate(It.IsAny<ulong>(), It.IsAny<ulong>(), RmpPageLevel.Level4K, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 2, Head + 2, 0, out _).ShouldBe(Errno.Ok);
        p.Arch.Prepare(HeadGfn + 3, Head + 3, 0, out _).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 2) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
        p.Arch.Invalidate(Head + 1, 0).ShouldBe(Errno.Ok, "not assigned");
        p.Arch.Invalidate(Head + 2, 0).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 2).ShouldBe(-1);
        p.Arch.TrackedBlocks.ShouldBe(1);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 3) << 12, RmpPageLevel.Level4K)).Returns(Errno.EFAULT);
        p.Rmp.Setup(r => r.LeakPages((Head + 3) << 12, 1));
        p.Arch.Invalidate(Head + 3, 0).ShouldBe(Errno.EFAULT);
        p.Arch.RmpOrder(Head + 3).ShouldBe(0);
    }

    [Fact]
    public void Invalidate_Of4KPagesInsideA2MEntry_SmashesIt()
    {
        var p = new Parts();
        p.Prepared2M();
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakeShared((Head + 2) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok);
        p.Arch.Invalidate(Head + 2, 0).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 2).ShouldBe(-1);
        p.Arch.RmpOrder(Head + 3).ShouldBe(0);
    }

    [Fact]
    public void SmashHuge_Psmashes2MEntryOnce_AndIsOkOtherwise_WhileASplitsRollbackKeepsItSmashed()
    {
        var p = new Parts();
        p.Arch.IsHuge(Head).ShouldBeFalse();
        p.Arch.SmashHuge(Head).ShouldBe(Errno.Ok, "nothing tracked");
        p.Prepared2M();
        p.Arch.IsHuge(Head + 5).ShouldBeTrue();
        p.Arch.IsHuge(Head + 512).ShouldBeFalse("the next run");
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.Ok);
        p.Arch.SmashHuge(Head).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 5).ShouldBe(0);
        p.Arch.IsHuge(Head + 5).ShouldBeFalse();
        p.Arch.SmashHuge(Head).ShouldBe(Errno.Ok, "already 4K");
        p.Rmp.Verify(r => r.Psmash(It.IsAny<ulong>()), Times.Once);
        p.Logs.Single(6021, LogLevel.Debug);

        // A conversion's split finds the run 4K and its rollback leaves it so (no UNSMASH of what it did not smash).
        var file = new GmemFixture().Create(M2);
        p.Arch.SplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.UnsplitFolio(file, 0, Head, 9).ShouldBe(Errno.Ok);
        p.Arch.RmpOrder(Head + 5).ShouldBe(0);
        p.Rmp.Verify(r => r.Unsmash(It.IsAny<ulong>()), Times.Never);
    }

    [Fact]
    public void AFailedSmashHuge_IsThePsmashErrno_AndTheRunStays2M()
    {
        var p = new Parts();
        p.Prepared2M();
        p.Rmp.Setup(r => r.Psmash(Head << 12)).Returns(Errno.EBUSY);
        p.Arch.SmashHuge(Head).ShouldBe(Errno.EBUSY);
        p.Arch.RmpOrder(Head).ShouldBe(9);
        p.Logs.Single(6024, LogLevel.Warning).GetStructuredStateValue("Errno").ShouldBe("EBUSY");
    }

    [Fact]
    public void AConversion_RunsNotifierAndRmpSteps_InTheReferencesOrder()
    {
        var p = new Parts();
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, huge: true, arch: p.Arch);
        file.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        p.Rmp.Setup(r => r.RmpMakePrivate(head << 12, HeadGfn << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
        p.Arch.Prepare(HeadGfn, head, 9, out _).ShouldBe(Errno.Ok);
        var steps = new List<string>();
        var notifier = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        notifier.Setup(n => n.InvalidateBegin(file, K4, 2 * K4, InvalidateReason.ToShared)).Callback(() => steps.Add("begin"));
        notifier.Setup(n => n.ShouldProceed(file, K4, 2 * K4, InvalidateReason.ToShared)).Returns(Errno.Ok).Callback(() => steps.Add("proceed"));
        notifier.Setup(n => n.InvalidateEnd(file, K4, 2 * K4, InvalidateReason.ToShared)).Callback(() => steps.Add("end"));
        notifier.Setup(n => n.SplitHuge(file, 0, M2)).Returns(Errno.Ok).Callback(() => steps.Add("split"));
        p.Rmp.Setup(r => r.Psmash(head << 12)).Returns(Errno.Ok).Callback(() => steps.Add("psmash"));
        p.Rmp.Setup(r => r.RmpMakeShared((head + 1) << 12, RmpPageLevel.Level4K)).Returns(Errno.Ok).Callback(() => steps.Add("shared"));
        using (file.AddNotifier(notifier.Object, 0, M2))
            Convert(file, K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        steps.ShouldBe(["begin", "proceed", "split", "psmash", "shared", "end"]);

        notifier.Setup(n => n.InvalidateBegin(file, K4, 2 * K4, InvalidateReason.ToPrivate)).Callback(() => steps.Add("begin"));
        notifier.Setup(n => n.ShouldProceed(file, K4, 2 * K4, InvalidateReason.ToPrivate)).Returns(Errno.EAGAIN).Callback(() => steps.Add("busy"));
        notifier.Setup(n => n.InvalidateEnd(file, K4, 2 * K4, InvalidateReason.ToPrivate)).Callback(() => steps.Add("end"));
        steps.Clear();
        using (file.AddNotifier(notifier.Object, 0, M2))
            Convert(file, K4, K4, toPrivate: true).ShouldBe(Errno.EAGAIN);
        steps.ShouldBe(["begin", "busy", "end"], "a refusing notifier stops before any RMP change");
        p.Arch.RmpOrder(head + 1).ShouldBe(-1);
    }
}
