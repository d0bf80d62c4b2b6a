using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>guest_memfd at its edges: argument checks, binding overlaps, hole punching and release, which folios merge.</summary>
public sealed class GuestMemfdEdgeTests
{
    [Fact]
    public void NullArguments_Throw()
    {
        var f = new GmemFixture();
        Should.Throw<ArgumentNullException>(() => GuestMemfd.Create(null!, f.User.Memory, K4, 0, out _));
        Should.Throw<ArgumentNullException>(() => GuestMemfd.Create(f.User.Pages, null!, K4, 0, out _));
        GuestMemfd file = f.Create(K4, GuestMemfdFlags.Mmap);
        Should.Throw<ArgumentNullException>(() => file.Mmap(null!, 0, K4, writable: false, out _));
        Should.Throw<ArgumentNullException>(() => file.Bind(null!, null, 0, K4, out _));
        Should.Throw<ArgumentNullException>(() => file.AddNotifier(null!, 0, K4));
    }

    [Fact]
    public void TheLargestFile_IsMemfdsLargest_AndItsShareabilityCoversEveryPage()
    {
        var f = new GmemFixture();
        GuestMemfd.Create(f.User.Pages, f.User.Memory, MemFd.MaxSize, 0, out GuestMemfd? largest).ShouldBe(Errno.Ok);
        largest!.Shareability.Pages.ShouldBe(MemFd.MaxSize / K4);
        GuestMemfd.Create(f.User.Pages, f.User.Memory, MemFd.MaxSize + K4, 0, out _).ShouldBe(Errno.EINVAL);
        GuestMemfd file = f.Create(3 * K4, GuestMemfdFlags.InitShared);
        file.Shareability.Pages.ShouldBe(3UL);
        file.Shareability.Ranges.ShouldBe([new(0, 3, true)]);
    }

    [Fact]
    public void GetPfn_ThroughABinding_CoversExactlyItsRange()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(8 * K4);
        var slot = new Mock<IGuestMemfdNotifier>().Object;
        file.Bind(slot, null, 2 * K4, 3 * K4, out GuestMemfdBinding? binding).ShouldBe(Errno.Ok);
        binding!.GetPfn(1, out _, out _).ShouldBe(Errno.EIO);
        binding.GetPfn(2, out _, out _).ShouldBe(Errno.Ok);
        binding.GetPfn(4, out _, out _).ShouldBe(Errno.Ok);
        binding.GetPfn(5, out ulong none, out _).ShouldBe(Errno.EIO);
        none.ShouldBe(0UL);
        file.PresentPages.ShouldBe(2);
    }

    [Fact]
    public void Bindings_MayTouchButNotOverlap_AndANotifierIsNoBinding()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(16 * K4);
        var slot = new Mock<IGuestMemfdNotifier>().Object;
        using var notifier = file.AddNotifier(new Mock<IGuestMemfdNotifier>().Object, 0, 16 * K4);
        file.Bind(slot, null, 4 * K4, 4 * K4, out GuestMemfdBinding? middle).ShouldBe(Errno.Ok, "a notifier over the range is no binding");
        middle.ShouldNotBeNull();
        file.Bind(slot, null, 0, 4 * K4, out _).ShouldBe(Errno.Ok, "ends where the other begins");
        file.Bind(slot, null, 8 * K4, 4 * K4, out _).ShouldBe(Errno.Ok, "begins where the other ends");
        file.Bind(slot, null, 7 * K4, K4, out GuestMemfdBinding? refused).ShouldBe(Errno.EINVAL);
        refused.ShouldBeNull();
        file.Bind(slot, null, 11 * K4, 2 * K4, out _).ShouldBe(Errno.EINVAL);
        file.Bind(slot, null, 12 * K4, 4 * K4, out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void AHostMappingPastTheEndOfTheFile_FaultsWithEfault()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        file.Mmap(f.User.Mm, 0, 2 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va, [1]).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va + K4, [1]).ShouldBe(Errno.EFAULT);
        file.PresentPages.ShouldBe(1);
    }

    [Fact]
    public void ASecondRelease_IsABug()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(K4);
        file.Release();
        file.Alive.ShouldBeFalse();
        Should.Throw<InvalidOperationException>(file.Release).Message.ShouldContain("released twice");
    }

    [Fact]
    public void TheRelease_UnbindsEveryBinding_AndTellsItsNotifierOfTheWholeFile()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        var slot = new Mock<IGuestMemfdNotifier>();
        file.Bind(slot.Object, null, K4, K4, out GuestMemfdBinding? binding).ShouldBe(Errno.Ok);
        file.Release();
        binding!.Bound.ShouldBeFalse();
        slot.Verify(s => s.InvalidateBegin(file, 0, 4 * K4, InvalidateReason.Truncate), Times.Once);
        slot.Verify(s => s.ShouldProceed(file, 0, 4 * K4, InvalidateReason.Truncate), Times.Once);
        slot.Verify(s => s.InvalidateEnd(file, 0, 4 * K4, InvalidateReason.Truncate), Times.Once);
        file.Bind(slot.Object, null, 0, K4, out _).ShouldBe(Errno.EINVAL, "a file that is gone binds nothing");
    }

    [Fact]
    public void APunchedHole_TellsTheNotifiersOfItsRange_AndOnlyThem()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(8 * K4);
        var inside = new Mock<IGuestMemfdNotifier>();
        var after = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        var before = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        using var a = file.AddNotifier(inside.Object, 0, 8 * K4);
        using var b = file.AddNotifier(after.Object, 4 * K4, 8 * K4);
        using var c = file.AddNotifier(before.Object, 0, 2 * K4);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 2 * K4, 2 * K4).ShouldBe(Errno.Ok);
        inside.Verify(s => s.InvalidateBegin(file, 2 * K4, 4 * K4, InvalidateReason.Truncate), Times.Once);
        inside.Verify(s => s.ShouldProceed(file, 2 * K4, 4 * K4, InvalidateReason.Truncate), Times.Once);
        inside.Verify(s => s.InvalidateEnd(file, 2 * K4, 4 * K4, InvalidateReason.Truncate), Times.Once);
        after.VerifyNoOtherCalls();
        before.VerifyNoOtherCalls();
    }

    [Fact]
    public void AHolePastTheEnd_TellsNoNotifier_AndDropsNothing()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        GuestMemfd file = f.Create(4 * K4);
        var beyond = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        using var subscription = file.AddNotifier(beyond.Object, 0, 8 * K4);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 4 * K4, K4).ShouldBe(Errno.Ok);
        beyond.VerifyNoOtherCalls();
        logs.All.Count(r => r.Id.Id == 6009).ShouldBe(0);
    }

    [Fact]
    public void APunchedHole_UnmapsTheHost_AndFreesThePages()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        file.Mmap(f.User.Mm, 0, 4 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        f.User.Mm.Populate(va, 4 * K4).ShouldBe(Errno.Ok);
        f.User.Mm.ResidentPages.ShouldBe(4);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, K4, 2 * K4).ShouldBe(Errno.Ok);
        f.User.Mm.ResidentPages.ShouldBe(2);
        f.User.Frames.FramesInUse.ShouldBe(2);
    }

    [Fact]
    public void PunchingAWhole2MFolio_FreesAllOfIt_WithoutASplit_AndPartOfOneSplitsIt()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        GuestMemfd file = f.Create(3 * M2, huge: true);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, 3 * M2).ShouldBe(Errno.Ok);
        f.User.Frames.FramesInUse.ShouldBe(3 * 512);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 0, M2).ShouldBe(Errno.Ok);
        f.User.Frames.FramesInUse.ShouldBe(2 * 512);
        logs.All.Count(r => r.Id.Id == 6004).ShouldBe(0, "a folio ending at the hole's end is not split");
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, K4, (2 * M2) - K4).ShouldBe(Errno.Ok);
        logs.All.Count(r => r.Id.Id == 6004).ShouldBe(0, "a folio starting inside the hole and ending at its end is not split");
        f.User.Frames.FramesInUse.ShouldBe(512);
        file.FolioOrderAt(1024).ShouldBe(9);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 2 * M2, K4).ShouldBe(Errno.Ok);
        logs.All.Count(r => r.Id.Id == 6004).ShouldBe(1);
        file.FolioOrderAt(1025).ShouldBe(0);
        f.User.Frames.FramesInUse.ShouldBe(511);
    }

    [Fact]
    public void AFrameTheArchitectureCannotTakeBack_IsLeaked_NeverFreed()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        var arch = new Mock<IGuestMemfdArch>();
        arch.Setup(a => a.Invalidate(It.IsAny<ulong>(), 0)).Returns(Errno.EIO);
        GuestMemfd file = f.Create(2 * K4, arch: arch.Object);
        file.GetPfn(1, out ulong pfn, out _).ShouldBe(Errno.Ok);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, 0, 2 * K4).ShouldBe(Errno.Ok);
        file.FolioOrderAt(1).ShouldBe(-1);
        f.User.Frames.FramesInUse.ShouldBe(1);
        f.User.Pages.RefCount(pfn).ShouldBe(1, "the file's reference is never put");
        logs.Single(6009, LogLevel.Debug).GetStructuredStateValue("Pages").ShouldBe("0");
        arch.Verify(a => a.Invalidate(pfn, 0), Times.Once);
    }

    [Fact]
    public void AConversionEndingAtA2MBoundary_LeavesTheNextFolioWhole()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * M2, huge: true);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, 2 * M2).ShouldBe(Errno.Ok);
        Convert(file, M2 - K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0);
        file.FolioOrderAt(512).ShouldBe(9);
    }

    [Fact]
    public void ANotifierStartingWhereTheConversionEnds_IsNotTold()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(8 * K4);
        var next = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        using var subscription = file.AddNotifier(next.Object, 4 * K4, 8 * K4);
        Convert(file, 0, 4 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        next.VerifyNoOtherCalls();
    }

    [Fact]
    public void A2MBlockWithA4KPage_GetsNo2MFolioOverIt()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, GuestMemfdFlags.InitShared, huge: true);
        file.GetPfn(3, out ulong pfn3, out _).ShouldBe(Errno.Ok);
        Convert(file, 0, M2, toPrivate: true).ShouldBe(Errno.Ok);
        file.GetPfn(5, out _, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(0);
        file.GetPfn(3, out ulong again, out order).ShouldBe(Errno.Ok);
        again.ShouldBe(pfn3);
        order.ShouldBe(0);
    }

    [Theory]
    [InlineData(new[] { 0, 1, 3, 2 }, "the pieces' frames are out of order")]
    [InlineData(new[] { 0, 2, 1 }, "the pieces' frames are out of order")]
    public void PiecesThatAreNotOneRunOfFrames_StayApart(int[] firstOrder, string why)
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, GuestMemfdFlags.InitShared, huge: true);
        foreach (int i in firstOrder)
            file.GetPfn((ulong)i, out _, out _).ShouldBe(Errno.Ok);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, M2).ShouldBe(Errno.Ok);
        var pfns = Enumerable.Range(0, 512).Select(i => file.TryFindPage((ulong)i, out ulong p) ? p : 0).ToArray();
        Convert(file, 0, M2, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0, why);
        Enumerable.Range(0, 512).Select(i => file.TryFindPage((ulong)i, out ulong p) ? p : 0).ShouldBe(pfns);
    }

    [Fact]
    public void PiecesOfOneRunOfFrames_WithAHole_StayApart()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, GuestMemfdFlags.InitShared, huge: true);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, M2 - K4).ShouldBe(Errno.Ok);
        Convert(file, 0, M2, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0);
        file.FolioOrderAt(511).ShouldBe(-1);
    }
}
