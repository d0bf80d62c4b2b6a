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
/// A smash outside a conversion (the RMP fault's PSMASH) through guest_memfd, against mocked RMP helpers and
/// notifiers: every notifier of the 2M run splits first, under the invalidate lock held exclusively, then PSMASH.
/// </summary>
public sealed class SmashHugeTests
{
    private const ushort Asid = 7;
    private const ulong HeadGfn = 0x80000;

    private sealed class Parts
    {
        public Parts()
        {
            ulong gfn;
            Gfns.Setup(g => g.TryGetGfn(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), out gfn))
                .Returns((GuestMemfd _, ulong index, out ulong g) =>
                {
                    g = HeadGfn + index;
                    return true;
                });
            Arch = new SnpGuestMemfdArch(Rmp.Object, Asid, Gfns.Object, Logs);
            File = new GmemFixture(logs: Logs).Create(2 * M2, huge: true, arch: Arch);
            File.GetPfn(512 + 3, out ulong pfn, out int order).ShouldBe(Errno.Ok);
            order.ShouldBe(9);
            Head = pfn - 3;
            Rmp.Setup(r => r.RmpMakePrivate(Head << 12, (HeadGfn + 512) << 12, RmpPageLevel.Level2M, Asid)).Returns(Errno.Ok);
            Arch.Prepare(HeadGfn + 512 + 3, pfn, 9, out int mappable).ShouldBe(Errno.Ok);
            mappable.ShouldBe(9);
        }

        public Mock<ISnpRmpHelpers> Rmp { get; } = new(MockBehavior.Strict);

        public Mock<IGuestMemfdGfnLookup> Gfns { get; } = new();

        public CapturedLogs Logs { get; } = new();

        public SnpGuestMemfdArch Arch { get; }

        public GuestMemfd File { get; }

        public ulong Head { get; }

        public List<string> Steps { get; } = [];

        public Mock<IGuestMemfdNotifier> Notifier(string name, Errno result = Errno.Ok)
        {
            var n = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
            n.Setup(x => x.SplitHuge(File, M2, 2 * M2)).Returns(result)
                .Callback(() => Steps.Add($"{name} split, exclusive {File.InvalidateLockHeldExclusively}"));
            return n;
        }
    }

    [Fact]
    public void EveryNotifierOfTheRun_SplitsFirst_UnderTheExclusiveInvalidateLock_ThenPsmash_AndTheFolioStays2M()
    {
        var p = new Parts();
        var first = p.Notifier("first");
        var second = p.Notifier("second");
        var elsewhere = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        p.Rmp.Setup(r => r.Psmash(p.Head << 12)).Returns(Errno.Ok)
            .Callback(() => p.Steps.Add($"psmash, exclusive {p.File.InvalidateLockHeldExclusively}"));
        using (p.File.AddNotifier(first.Object, 0, 2 * M2))
        using (p.File.AddNotifier(elsewhere.Object, 0, M2))
        using (p.File.AddNotifier(second.Object, M2 + K4, M2 + (2 * K4)))
        {
            p.File.SmashHuge(512 + 3).ShouldBe(Errno.Ok);
            p.Steps.ShouldBe(["first split, exclusive True", "second split, exclusive True", "psmash, exclusive True"]);
            p.File.SmashHuge(1023).ShouldBe(Errno.Ok, "the run is 4K already: nobody is told");
        }
        first.Verify(n => n.SplitHuge(p.File, M2, 2 * M2), Times.Once);
        p.Rmp.Verify(r => r.Psmash(It.IsAny<ulong>()), Times.Once);
        p.Arch.RmpOrder(p.Head + 100).ShouldBe(0);
        p.File.FolioOrderAt(512).ShouldBe(9);
        p.File.InvalidateLockHeldExclusively.ShouldBeFalse();
        p.Logs.Single(6043, LogLevel.Debug).GetStructuredStateValue("Offset").ShouldBe("2097152");
    }

    [Fact]
    public void ANotifierThatCannotSplit_StopsTheSmash_WithItsErrno_AndTheRunStays2M()
    {
        var p = new Parts();
        var refusing = p.Notifier("refusing", Errno.ENOMEM);
        var later = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        using (p.File.AddNotifier(refusing.Object, 0, 2 * M2))
        using (p.File.AddNotifier(later.Object, 0, 2 * M2))
            p.File.SmashHuge(600).ShouldBe(Errno.ENOMEM);
        p.Rmp.Verify(r => r.Psmash(It.IsAny<ulong>()), Times.Never);
        p.Arch.RmpOrder(p.Head).ShouldBe(9);
        p.Arch.IsHuge(p.Head + 88).ShouldBeTrue();
        p.Logs.Single(6042, LogLevel.Warning).GetStructuredStateValue("Errno").ShouldBe("ENOMEM");
        p.File.InvalidateLockHeldExclusively.ShouldBeFalse();
    }

    [Fact]
    public void AFailedPsmash_IsItsErrno_AfterTheSplit()
    {
        var p = new Parts();
        var n = p.Notifier("n");
        p.Rmp.Setup(r => r.Psmash(p.Head << 12)).Returns(Errno.EBUSY).Callback(() => p.Steps.Add("psmash"));
        using (p.File.AddNotifier(n.Object, 0, 2 * M2))
            p.File.SmashHuge(512).ShouldBe(Errno.EBUSY);
        p.Steps.ShouldBe(["n split, exclusive True", "psmash"]);
        p.Arch.RmpOrder(p.Head).ShouldBe(9);
        p.Logs.All.ShouldNotContain(l => l.Id.Id == 6043);
    }

    [Fact]
    public void NothingToSmash_IsOk_PastTheEndOrAfterTheLastCloseEfault()
    {
        var p = new Parts();
        var n = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        using (p.File.AddNotifier(n.Object, 0, 2 * M2))
        {
            p.File.SmashHuge(3).ShouldBe(Errno.Ok, "a hole");
            p.File.GetPfn(3, out _, out _).ShouldBe(Errno.Ok);
            p.File.SmashHuge(3).ShouldBe(Errno.Ok, "a 2M folio whose RMP is not one 2M entry");
            p.File.SmashHuge(1024).ShouldBe(Errno.EFAULT);
        }
        var plain = new GmemFixture().Create(M2, huge: true);
        plain.GetPfn(0, out _, out _).ShouldBe(Errno.Ok);
        plain.SmashHuge(0).ShouldBe(Errno.Ok, "no architecture");
        plain.Release();
        plain.SmashHuge(0).ShouldBe(Errno.EFAULT);
    }

    [Fact]
    public void AConversionsSplit_TellsTheNotifiersBeforeThePsmash_AndARefusalRollsTheConversionBack()
    {
        var p = new Parts();
        var n = new Mock<IGuestMemfdNotifier>();
        n.Setup(x => x.SplitHuge(p.File, M2, 2 * M2)).Returns(Errno.EBUSY).Callback(() => p.Steps.Add("split"));
        ulong errorOffset;
        using (p.File.AddNotifier(n.Object, 0, 2 * M2))
            Convert(p.File, M2 + K4, K4, toPrivate: false, out errorOffset).ShouldBe(Errno.EBUSY);
        errorOffset.ShouldBe(M2);
        p.Steps.ShouldBe(["split"]);
        p.Rmp.Verify(r => r.Psmash(It.IsAny<ulong>()), Times.Never);
        p.File.IsPrivate(513).ShouldBeTrue();
        p.File.FolioOrderAt(513).ShouldBe(9);
        p.Arch.RmpOrder(p.Head).ShouldBe(9);
    }
}
