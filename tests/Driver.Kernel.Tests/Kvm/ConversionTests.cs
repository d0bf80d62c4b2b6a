using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>In-place conversion through KVM_SET_MEMORY_ATTRIBUTES2: errnos, folios, EAGAIN, notifiers, rollback.</summary>
public sealed class ConversionTests
{
    public static TheoryData<string, Errno> BadArguments => new()
    {
        { "short", Errno.EINVAL },
        { "attributes", Errno.EINVAL },
        { "flags", Errno.EINVAL },
        { "zero+preserve", Errno.EINVAL },
        { "reserved", Errno.EINVAL },
        { "size 0", Errno.EINVAL },
        { "unaligned offset", Errno.EINVAL },
        { "unaligned size", Errno.EINVAL },
        { "past the end", Errno.EINVAL },
        { "wraps", Errno.EINVAL },
    };

    [Theory]
    [MemberData(nameof(BadArguments))]
    public void BadArguments_AreRefused_AndChangeNothing(string what, Errno expected)
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        byte[] bytes = Attributes(0, K4, toPrivate: false);
        var a = KvmMemoryAttributes2.FromBytes(bytes);
        a = what switch
        {
            "attributes" => a.WithAttributes(0x10),
            "flags" => a.WithFlags(0x4),
            "zero+preserve" => a.WithFlags(3),
            "size 0" => a.WithSize(0),
            "unaligned offset" => a.WithOffset(1),
            "unaligned size" => a.WithSize(K4 + 1),
            "past the end" => a.WithOffset(3 * K4).WithSize(2 * K4),
            "wraps" => a.WithOffset(K4).WithSize(ulong.MaxValue & ~0xFFFUL),
            _ => a,
        };
        a.CopyTo(bytes);
        if (what == "reserved")
            bytes[100] = 1;
        string before = State(file, f.User);
        file.SetMemoryAttributes2(what == "short" ? bytes.AsSpan(0, 64) : bytes).ShouldBe(expected, what);
        State(file, f.User).ShouldBe(before);
        file.IsPrivate(0).ShouldBeTrue();
    }

    [Fact]
    public void A4KPageInside2M_BecomesShared_ByASplit_AndMergesBackWhenPrivateAgain()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * M2, huge: true);
        file.Fallocate(GuestMemfd.FallocKeepSize, 0, M2).ShouldBe(Errno.Ok);
        file.GetPfn(0, out ulong first, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);

        Convert(file, 3 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0);
        file.IsPrivate(3).ShouldBeFalse();
        file.IsPrivate(2).ShouldBeTrue();
        file.GetPfn(3, out ulong pfn3, out order).ShouldBe(Errno.Ok);
        pfn3.ShouldBe(first + 3, "a split keeps every page in its frame");
        order.ShouldBe(0);
        file.Shareability.Ranges.Count.ShouldBe(3);
        f.User.Frames.FramesInUse.ShouldBe(512);

        Convert(file, 3 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(9);
        file.GetPfn(3, out ulong back, out order).ShouldBe(Errno.Ok);
        back.ShouldBe(pfn3);
        order.ShouldBe(9);
        file.Shareability.Ranges.Count.ShouldBe(1, "adjacent equal ranges merge");
        f.User.Frames.FramesInUse.ShouldBe(512);
    }

    [Fact]
    public void Whole2M_BothWays_AndAConversionToTheCurrentStateIsANoOp()
    {
        var f = new GmemFixture();
        var notifier = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        GuestMemfd file = f.Create(M2, huge: true);
        using var subscription = file.AddNotifier(notifier.Object, 0, M2);
        Convert(file, 0, M2, toPrivate: true).ShouldBe(Errno.Ok, "already private: no notifier is called");

        notifier.Setup(n => n.InvalidateBegin(file, 0, M2, InvalidateReason.ToShared));
        notifier.Setup(n => n.ShouldProceed(file, 0, M2, InvalidateReason.ToShared)).Returns(Errno.Ok);
        notifier.Setup(n => n.InvalidateEnd(file, 0, M2, InvalidateReason.ToShared));
        notifier.Setup(n => n.SplitHuge(file, 0, M2)).Returns(Errno.Ok);
        file.GetPfn(0, out _, out _).ShouldBe(Errno.Ok);
        Convert(file, 0, M2, toPrivate: false).ShouldBe(Errno.Ok);
        file.FolioOrderAt(100).ShouldBe(0);
        notifier.VerifyAll();
    }

    [Fact]
    public void ToPrivate_WithAnExtraReference_IsEAGAIN_AtThatPage_AndChangesNothing()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        GuestMemfd file = f.Create(4 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        file.Mmap(f.User.Mm, 0, 4 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        f.User.Mm.Populate(va, 4 * K4).ShouldBe(Errno.Ok);
        var pinned = new ulong[1];
        f.User.Mm.PinUserPages(va + (2 * K4), 1, write: true, pinned).ShouldBe(Errno.Ok);
        string ranges = string.Join(",", file.Shareability.Ranges);

        Convert(file, 0, 4 * K4, toPrivate: true, out ulong errorOffset).ShouldBe(Errno.EAGAIN);
        errorOffset.ShouldBe(2 * K4);
        string.Join(",", file.Shareability.Ranges).ShouldBe(ranges);
        file.IsPrivate(0).ShouldBeFalse();
        f.User.Mm.ResidentPages.ShouldBe(0, "should_proceed unmapped the host first");
        logs.Single(6002, LogLevel.Information).GetStructuredStateValue("ErrorOffset").ShouldBe(CapturedLogs.Value(2 * K4));

        f.User.Mm.UnpinUserPages(pinned);
        Convert(file, 0, 4 * K4, toPrivate: true).ShouldBe(Errno.Ok);
        file.IsPrivate(2).ShouldBeTrue();
        f.User.Pages.RefCount(pinned[0]).ShouldBe(1);
    }

    [Fact]
    public void TheZeroMode_ClearsTheConvertedPages_AndPreserveKeepsThem()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        file.Mmap(f.User.Mm, 0, 2 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va, [7]).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va + K4, [8]).ShouldBe(Errno.Ok);
        Convert(file, 0, K4, toPrivate: true, out _, SetMemoryAttributes2Flags.Zero).ShouldBe(Errno.Ok);
        Convert(file, K4, K4, toPrivate: true, out _, SetMemoryAttributes2Flags.Preserve).ShouldBe(Errno.Ok);
        var b = new byte[1];
        file.TryFindPage(0, out ulong p0).ShouldBeTrue();
        f.User.Memory.Read(p0 << 12, b);
        b[0].ShouldBe((byte)0);
        file.TryFindPage(1, out ulong p1).ShouldBeTrue();
        f.User.Memory.Read(p1 << 12, b);
        b[0].ShouldBe((byte)8);
    }

    [Fact]
    public void Notifiers_SeeBeginProceedEnd_InOrder_WithTheLockHeldExclusively()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(8 * K4);
        var calls = new List<string>();
        var notifier = new Mock<IGuestMemfdNotifier>();
        notifier.Setup(n => n.InvalidateBegin(file, It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<InvalidateReason>()))
            .Callback((GuestMemfd g, ulong s, ulong e, InvalidateReason r) => calls.Add($"begin {s:x}-{e:x} {r} {g.InvalidateLockHeldExclusively}"));
        notifier.Setup(n => n.ShouldProceed(file, It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<InvalidateReason>()))
            .Callback((GuestMemfd g, ulong s, ulong e, InvalidateReason r) => calls.Add($"proceed {r} {g.InvalidateLockHeldExclusively}"))
            .Returns(Errno.Ok);
        notifier.Setup(n => n.InvalidateEnd(file, It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<InvalidateReason>()))
            .Callback((GuestMemfd g, ulong s, ulong e, InvalidateReason r) => calls.Add($"end {r} {g.InvalidateLockHeldExclusively}"));
        var outside = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        using var a = file.AddNotifier(notifier.Object, K4, 4 * K4);
        using var b = file.AddNotifier(outside.Object, 6 * K4, 8 * K4);

        Convert(file, 2 * K4, 2 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        calls.ShouldBe(["begin 2000-4000 ToShared True", "proceed ToShared True", "end ToShared True"]);
        file.IsPrivate(2).ShouldBeFalse();
        file.InvalidateLockHeldExclusively.ShouldBeFalse();
        outside.VerifyNoOtherCalls();
    }

    [Fact]
    public void ANotifierThatRefuses_StopsTheConversion_AfterBeginAndWithEnd()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        var notifier = new Mock<IGuestMemfdNotifier>();
        notifier.Setup(n => n.ShouldProceed(file, 0, 2 * K4, InvalidateReason.ToShared)).Returns(Errno.EAGAIN);
        using var subscription = file.AddNotifier(notifier.Object, 0, 4 * K4);
        Convert(file, 0, 2 * K4, toPrivate: false, out ulong errorOffset).ShouldBe(Errno.EAGAIN);
        errorOffset.ShouldBe(0UL);
        file.IsPrivate(0).ShouldBeTrue();
        notifier.Verify(n => n.InvalidateBegin(file, 0, 2 * K4, InvalidateReason.ToShared), Times.Once);
        notifier.Verify(n => n.InvalidateEnd(file, 0, 2 * K4, InvalidateReason.ToShared), Times.Once);
    }

    [Fact]
    public void TheArchHook_IsCalledPerPage_AndAFailureRollsBackWhatWasDone()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        var arch = GmemFixture.SplittingArch();
        GuestMemfd file = f.Create(M2, huge: true, arch: arch.Object);
        file.GetPfn(0, out ulong first, out _).ShouldBe(Errno.Ok);
        int shared = 0;
        arch.Setup(a => a.MakeShared(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), It.IsAny<ulong>())).Returns(() => ++shared == 3 ? Errno.EIO : Errno.Ok);
        string before = State(file, f.User);

        Convert(file, 0, 4 * K4, toPrivate: false, out ulong errorOffset).ShouldBe(Errno.EIO);
        errorOffset.ShouldBe(2 * K4, "the third page failed");
        State(file, f.User).ShouldBe(before);
        arch.Verify(a => a.SplitFolio(file, 0, first, 9), Times.Once);
        arch.Verify(a => a.UnsplitFolio(file, 0, first, 9), Times.Once);
        arch.Verify(a => a.MakePrivate(file, 0, first), Times.Once);
        arch.Verify(a => a.MakePrivate(file, 1, first + 1), Times.Once);
        arch.Verify(a => a.MakePrivate(file, 2, first + 2), Times.Never);
        logs.Single(6003, LogLevel.Warning).GetStructuredStateValue("Steps").ShouldBe("3");

        Convert(file, 0, 4 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        arch.Verify(a => a.MakeShared(file, It.IsAny<ulong>(), It.IsAny<ulong>()), Times.Exactly(3 + 4));
    }

    [Fact]
    public void FailNth_AtEverySite_LeavesTheStateExactlyAsItWas()
    {
        int runs = 0;
        for (int n = 1; n < 50; n++)
        {
            var f = new GmemFixture();
            GuestMemfd file = f.Create(M2 + (4 * K4), GuestMemfdFlags.Mmap, huge: true);
            file.Fallocate(GuestMemfd.FallocKeepSize, 0, M2 + (2 * K4)).ShouldBe(Errno.Ok);
            Convert(file, M2, K4, toPrivate: false).ShouldBe(Errno.Ok);
            string before = State(file, f.User);
            f.User.FailNth.Arm(n);
            Errno e = Convert(file, K4, M2, toPrivate: false);
            f.User.FailNth.Disarm();
            runs++;
            if (!f.User.FailNth.Fired)
            {
                e.ShouldBe(Errno.Ok);
                file.IsPrivate(1).ShouldBeFalse();
                file.IsPrivate(0).ShouldBeTrue();
                break;
            }
            e.ShouldBe(Errno.ENOMEM, $"n = {n}");
            State(file, f.User).ShouldBe(before, $"n = {n}");
        }
        runs.ShouldBe(3, "the range-tree preallocation, the split, then a clean run");
    }
}
