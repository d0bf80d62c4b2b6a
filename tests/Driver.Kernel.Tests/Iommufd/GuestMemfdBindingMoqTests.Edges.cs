using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The binding's edges: a map held off by a conversion, a map that fails half way, lazy flushing, splits and cuts over two 2M pages.</summary>
public sealed partial class GuestMemfdBindingMoqTests
{
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    private static Errno MapAt(Setup s, ulong offset, ulong iova, bool allocIova = false) =>
        s.Iopt.MapGuestMemfd(s.File.Object, offset, M2, ref iova, Rw, allocIova, kernelRemap: true, notify: true, s.Logs.CreateLogger("iommufd"), out _);

    [Fact]
    public void DuringAConversion_AFixedMapOverTheBinding_IsEagain_WhileOneBesideItOrAnAutomaticOneIsNot()
    {
        var s = new Setup(pages: 2048);
        s.AddDomain(Ops(new FakeTable()), guestPrivate: true);
        s.Bind();
        var converting = s.Notifier!;
        converting.InvalidateBegin(null!, FileOffset, FileOffset + K4, InvalidateReason.ToShared);
        MapAt(s, FileOffset + M2, Iova).ShouldBe(Errno.EAGAIN);
        MapAt(s, FileOffset + M2, Iova + M2 - K4).ShouldBe(Errno.EAGAIN, "its first page is the binding's last");
        MapAt(s, FileOffset + M2, Iova - M2).ShouldBe(Errno.Ok, "it ends just below the binding");
        MapAt(s, FileOffset + (2 * M2), Iova + M2).ShouldBe(Errno.Ok, "it starts just above the binding");
        MapAt(s, FileOffset + (3 * M2), 0, allocIova: true).ShouldBe(Errno.Ok, "an automatic IOVA is never the binding's");
        converting.InvalidateEnd(null!, FileOffset, FileOffset + K4, InvalidateReason.ToShared);
        MapAt(s, FileOffset + M2, Iova).ShouldNotBe(Errno.EAGAIN, "the conversion is over: the range is simply taken");
    }

    [Fact]
    public void AMapThatFailsInItsSecondDomain_UnmapsWhatBothMapped_Unsubscribes_AndLeavesNoArea()
    {
        var s = new Setup(pages: 1024);
        var first = new FakeTable();
        s.AddDomain(Ops(first), guestPrivate: true);
        var second = new FakeTable();
        var failing = Ops(second);
        int calls = 0;
        failing.Setup(o => o.MapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IommuProt>(), out It.Ref<ulong>.IsAny))
            .Returns(new MapDelegate((ulong iova, ulong pa, ulong size, ulong count, IommuProt _, out ulong mapped) =>
            {
                mapped = 0;
                if (++calls > 1)
                    return Errno.ENOMEM;
                second.Map(iova, pa, size);
                mapped = size;
                return Errno.Ok;
            }));
        s.AddDomain(failing, guestPrivate: true);
        var subscription = new Mock<IDisposable>();
        s.File.Setup(f => f.AddNotifier(It.IsAny<IGuestMemfdNotifier>(), It.IsAny<ulong>(), It.IsAny<ulong>())).Returns(subscription.Object);
        ulong iova = Iova;
        s.Iopt.MapGuestMemfd(s.File.Object, FileOffset, 2 * M2, ref iova, Rw, allocIova: false, kernelRemap: true, notify: true,
            s.Logs.CreateLogger("iommufd"), out var area).ShouldBe(Errno.ENOMEM);
        area.ShouldBeNull();
        first.Lookup(Iova).ShouldBe(0UL);
        first.Lookup(Iova + M2).ShouldBe(0UL);
        second.Lookup(Iova).ShouldBe(0UL, "the failing domain's first 2M page goes too");
        subscription.Verify(d => d.Dispose(), Times.Once);
        s.Iopt.Areas.IsEmpty.ShouldBeTrue();
    }

    [Fact]
    public void ALazyDomain_IsFlushedBeforeShouldProceedReturns()
    {
        var s = new Setup();
        var table = new FakeTable();
        var ops = Ops(table);
        ops.Setup(o => o.FlushIotlbAll()).Returns(() =>
        {
            table.Calls.Add("flush all");
            return Errno.Ok;
        });
        s.AddDomain(ops, guestPrivate: true, strict: false);
        s.Bind();
        table.Calls.Clear();
        s.Notifier!.ShouldProceed(null!, FileOffset + 0x5000, FileOffset + 0x6000, InvalidateReason.ToShared).ShouldBe(Errno.Ok);
        table.Calls.ShouldContain("flush all");
        table.Calls.IndexOf("flush all").ShouldBeGreaterThan(table.Calls.IndexOf($"unmap {Iova + 0x5000:x} 1000"));
    }

    [Fact]
    public void SplitHuge_OverTwo2MPages_CutsEach_AndAskedOfOneCutsOnlyThatOne()
    {
        var s = new Setup(pages: 1024);
        var table = new FakeTable();
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind(2 * M2);
        table.Calls.Clear();
        s.Notifier!.SplitHuge(null!, FileOffset + M2, FileOffset + (2 * M2)).ShouldBe(Errno.Ok);
        table.Calls.ShouldBe([$"cut {Iova + M2 + K4:x}"]);
        table.SizeAt(Iova).ShouldBe(M2);
        // Both blocks are asked of: a cut where the pages are 4K already changes nothing (iommupt's Cut is then a no-op).
        s.Notifier.SplitHuge(null!, FileOffset, FileOffset + (2 * M2)).ShouldBe(Errno.Ok);
        table.Calls.ShouldBe([$"cut {Iova + M2 + K4:x}", $"cut {Iova + K4:x}", $"cut {Iova + M2 + K4:x}"]);
        table.SizeAt(Iova).ShouldBe(K4);
        table.SizeAt(Iova + M2).ShouldBe(K4);
    }

    [Fact]
    public void ASplitWhoseCutFails_LogsTheCutsAddress()
    {
        var s = new Setup(pages: 1024);
        var table = new FakeTable { CutResult = Errno.ENOMEM };
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind(2 * M2);
        s.Notifier!.SplitHuge(null!, FileOffset + M2, FileOffset + (2 * M2)).ShouldBe(Errno.Ok);
        s.Logs.Single(4028, LogLevel.Warning).GetStructuredStateValue("Iova").ShouldBe(CapturedLogs.Value(Iova + M2 + K4));
        table.SizeAt(Iova).ShouldBe(M2, "the other 2M page is not touched");
    }

    [Fact]
    public void ASplitOverTwo2MPagesWhoseCutsFail_RemapsBothAt4K()
    {
        var s = new Setup(pages: 1024);
        var table = new FakeTable { CutResult = Errno.ENOMEM };
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind(2 * M2);
        s.Notifier!.SplitHuge(null!, FileOffset, FileOffset + (2 * M2)).ShouldBe(Errno.Ok);
        table.SizeAt(Iova).ShouldBe(K4);
        table.SizeAt(Iova + M2).ShouldBe(K4);
        table.Lookup(Iova + M2 + 0x3008).ShouldBe(((FirstPfn + 512 + 3) * K4) + 8);
        s.Logs.All.Count(r => r.Id.Id == 4028).ShouldBe(2);
    }

    [Theory]
    [InlineData(0x5000UL)]
    [InlineData(M2 + 0x5000UL)]
    public void AZapWhoseCutFails_WidensToItsOwn2MPageOnly(ulong page)
    {
        var s = new Setup(pages: 1024);
        var table = new FakeTable { CutResult = Errno.ENOMEM };
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind(2 * M2);
        s.Notifier!.ShouldProceed(null!, FileOffset + page, FileOffset + page + K4, InvalidateReason.ToShared).ShouldBe(Errno.Ok);
        ulong own = page & ~(M2 - 1);
        ulong other = own == 0 ? M2 : 0;
        table.Lookup(Iova + page).ShouldBe(0UL);
        table.SizeAt(Iova + own).ShouldBe(K4);
        table.SizeAt(Iova + own + M2 - K4).ShouldBe(K4);
        table.SizeAt(Iova + other).ShouldBe(M2);
    }

    [Fact]
    public void AConversion_IsCountedByReason_AndItsZapAndRemapAreLoggedWithTheirLengthAndDomains()
    {
        var s = new Setup();
        var priv = new FakeTable();
        var shared = new FakeTable();
        s.AddDomain(Ops(priv), guestPrivate: true);
        s.AddDomain(Ops(shared), guestPrivate: false);
        ulong iova = Iova;
        s.Iopt.MapGuestMemfd(s.File.Object, FileOffset, M2, ref iova, Rw, allocIova: false, kernelRemap: true, notify: true,
            s.Logs.CreateLogger("iommufd"), out var area).ShouldBe(Errno.Ok);
        s.Convert(5, toPrivate: false, folioOrder: 0);
        s.Convert(6, toPrivate: false, folioOrder: 0);
        s.Convert(5, toPrivate: true, folioOrder: 0);
        area!.GuestMemfd!.Invalidations[(int)InvalidateReason.ToShared].ShouldBe(2);
        area.GuestMemfd.Invalidations[(int)InvalidateReason.ToPrivate].ShouldBe(1);
        area.GuestMemfd.InvalidationsInProgress.ShouldBe(0);
        var zapped = s.Logs.All.Where(r => r.Id.Id == 4021).ToList();
        zapped.Count.ShouldBe(3);
        zapped.ShouldAllBe(r => r.GetStructuredStateValue("Length") == "4096" && r.GetStructuredStateValue("Domains") == "1");
        var remapped = s.Logs.All.Where(r => r.Id.Id == 4023).ToList();
        remapped.Count.ShouldBe(3);
        remapped.ShouldAllBe(r => r.GetStructuredStateValue("Length") == "4096");
    }
}
