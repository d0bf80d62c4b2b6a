using Driver.Kernel.Kvm;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>Which 2M blocks a conversion to private merges back, which pages the architecture is asked about, and error_offset on ENOMEM.</summary>
public sealed class ConversionMergeTests
{
    [Fact]
    public void AFileOfExactlyOne2M_MergesBack()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, huge: true);
        file.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        Convert(file, 7 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0);
        Convert(file, 7 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(9);
        file.GetPfn(7, out ulong pfn, out int order).ShouldBe(Errno.Ok);
        (pfn, order).ShouldBe((head + 7, 9));
    }

    [Fact]
    public void ABlockWithASharedPageLeft_StaysSplit()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * M2, huge: true);
        file.GetPfn(0, out _, out _).ShouldBe(Errno.Ok);
        Convert(file, 3 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        Convert(file, 5 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        Convert(file, 5 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0, "page 3 is still shared");
        file.IsPrivate(3).ShouldBeFalse();
        Convert(file, 3 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(9);
    }

    [Fact]
    public void AConversionOverTwoBlocks_MergesBoth()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(3 * M2, huge: true);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, 2 * M2).ShouldBe(Errno.Ok);
        Convert(file, M2 - K4, 2 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0);
        file.FolioOrderAt(512).ShouldBe(0);
        Convert(file, 0, 2 * M2, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(9);
        file.FolioOrderAt(512).ShouldBe(9);
    }

    [Fact]
    public void TheArchitecture_IsAskedOnlyAboutPagesWhoseStateChanges()
    {
        var f = new GmemFixture();
        var arch = new Mock<IGuestMemfdArch>(MockBehavior.Strict);
        arch.Setup(a => a.MakeShared(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), It.IsAny<ulong>())).Returns(Errno.Ok);
        GuestMemfd file = f.Create(4 * K4, arch: arch.Object);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, 4 * K4).ShouldBe(Errno.Ok);
        Convert(file, K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.TryFindPage(1, out ulong p1).ShouldBeTrue();
        file.TryFindPage(2, out ulong p2).ShouldBeTrue();
        Convert(file, 0, 3 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        arch.Verify(a => a.MakeShared(file, 1, p1), Times.Once, "already shared the second time");
        arch.Verify(a => a.MakeShared(file, 2, p2), Times.Once);
        arch.Verify(a => a.MakeShared(file, It.IsAny<ulong>(), It.IsAny<ulong>()), Times.Exactly(3));
        arch.Verify(a => a.MakeShared(file, 3, It.IsAny<ulong>()), Times.Never);
    }

    [Fact]
    public void ENomem_BeforeAnyChange_ReportsTheRangesStartAsErrorOffset()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(8 * K4);
        string before = State(file, f.User);
        f.User.FailNth.Arm(1);
        Convert(file, 3 * K4, 2 * K4, toPrivate: false, out ulong errorOffset).ShouldBe(Errno.ENOMEM);
        f.User.FailNth.Disarm();
        errorOffset.ShouldBe(3 * K4);
        State(file, f.User).ShouldBe(before);
    }
}
