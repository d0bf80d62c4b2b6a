using Driver.Kernel.Iommu;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// The binding against a mocked guest_memfd side (its pages and the notifier it is handed) and
/// mocked domain ops (with Cut and Merge): the exact calls a conversion makes, in order.
/// </summary>
public sealed partial class GuestMemfdBindingMoqTests
{
    private const ulong K4 = 4096;
    private const ulong M2 = 2UL << 20;
    private const ulong Iova = 0x4000_0000;
    private const ulong FileOffset = 0x20_0000;
    private const ulong FirstPfn = 0x8_0000;

    /// <summary>A page table the mocked ops keep: 4K slots naming the entry that covers them, and a log of every call.</summary>
    private sealed class FakeTable
    {
        private readonly Dictionary<ulong, (ulong EntryIova, ulong Pa, ulong Size)> _slots = [];

        public List<string> Calls { get; } = [];

        public Errno CutResult { get; set; } = Errno.Ok;

        public void Map(ulong iova, ulong pa, ulong size)
        {
            Calls.Add($"map {iova:x} {size:x}");
            for (ulong at = iova; at < iova + size; at += K4)
                _slots.Add(at, (iova, pa, size));
        }

        public ulong Unmap(ulong iova, ulong length)
        {
            ulong done = 0;
            while (done < length && _slots.TryGetValue(iova + done, out var entry))
            {
                entry.EntryIova.ShouldBe(iova + done, "an unmap must start at an entry");
                for (ulong at = entry.EntryIova; at < entry.EntryIova + entry.Size; at += K4)
                    _slots.Remove(at);
                done += entry.Size;
            }
            Calls.Add($"unmap {iova:x} {done:x}");
            return done;
        }

        public ulong Lookup(ulong iova) => _slots.TryGetValue(iova & ~(K4 - 1), out var e) ? e.Pa + (iova - e.EntryIova) : 0;

        public ulong SizeAt(ulong iova) => _slots.TryGetValue(iova, out var e) ? e.Size : 0;

        public Errno Cut(ulong iova)
        {
            Calls.Add($"cut {iova:x}");
            if (CutResult != Errno.Ok)
                return CutResult;
            if (_slots.TryGetValue(iova, out var e) && e.EntryIova != iova)
            {
                for (ulong at = e.EntryIova; at < e.EntryIova + e.Size; at += K4)
                    _slots[at] = (at, e.Pa + (at - e.EntryIova), K4);
            }
            return Errno.Ok;
        }

        public Errno Merge(ulong iova, ulong length)
        {
            Calls.Add($"merge {iova:x} {length:x}");
            ulong pa = Lookup(iova);
            for (ulong at = iova; at < iova + length; at += K4)
            {
                if (Lookup(at) != pa + (at - iova))
                    return Errno.Ok;
            }
            for (ulong at = iova; at < iova + length; at += K4)
                _slots[at] = (iova, pa, length);
            return Errno.Ok;
        }
    }

    private delegate Errno MapDelegate(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped);

    private delegate Errno AllocDelegate(DomainAllocFlags flags, out IIommuDomainOps? ops);

    private static Mock<IIommuDomainOps> Ops(FakeTable table, bool resize = true)
    {
        var ops = new Mock<IIommuDomainOps>(MockBehavior.Strict);
        ops.SetupGet(o => o.PageSizeBitmap).Returns(K4 | M2);
        ops.SetupGet(o => o.VaBits).Returns(48);
        ops.Setup(o => o.MapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IommuProt>(), out It.Ref<ulong>.IsAny))
            .Returns(new MapDelegate((ulong iova, ulong pa, ulong size, ulong count, IommuProt _, out ulong mapped) =>
            {
                for (ulong i = 0; i < count; i++)
                    table.Map(iova + (i * size), pa + (i * size), size);
                mapped = size * count;
                return Errno.Ok;
            }));
        ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>()))
            .Returns((ulong iova, ulong size, ulong count, IotlbGather gather) =>
            {
                ulong done = table.Unmap(iova, size * count);
                if (done != 0)
                    gather.AddRange(iova, done);
                return done;
            });
        ops.Setup(o => o.IovaToPhys(It.IsAny<ulong>())).Returns((ulong iova) => table.Lookup(iova));
        ops.Setup(o => o.IotlbSync(It.IsAny<IotlbGather>())).Callback((IotlbGather gather) =>
        {
            if (gather.HasRange)
                table.Calls.Add($"sync {gather.Start:x}-{gather.End:x}");
        });
        if (resize)
        {
            var cut = ops.As<IIommuDomainResize>();
            cut.Setup(r => r.Cut(It.IsAny<ulong>())).Returns((ulong iova) => table.Cut(iova));
            cut.Setup(r => r.Merge(It.IsAny<ulong>(), It.IsAny<ulong>())).Returns((ulong iova, ulong length) => table.Merge(iova, length));
        }
        return ops;
    }

    private sealed class Setup
    {
        private readonly Queue<Mock<IIommuDomainOps>> _next = new();

        public Setup(ulong pages = 512)
        {
            var driver = new Mock<IIommuDriver>(MockBehavior.Strict);
            driver.Setup(d => d.AllocPagingDomain(It.IsAny<DomainAllocFlags>(), out It.Ref<IIommuDomainOps?>.IsAny))
                .Returns(new AllocDelegate((DomainAllocFlags _, out IIommuDomainOps? ops) =>
                {
                    ops = _next.Dequeue().Object;
                    return Errno.Ok;
                }));
            Core = new IommuCore(driver.Object, new MockClock(), new IommuCoreConfig { Passthrough = true });
            Iopt = new IoPageTable(Core) { GuestMemfdLogger = Logs.CreateLogger("iommufd") };
            for (ulong i = 0; i < pages; i++)
                Pages[(FileOffset / K4) + i] = new GuestMemfdPage(FirstPfn + i, 9, Shared: false);
            File.SetupGet(f => f.File).Returns(this);
            File.SetupGet(f => f.Size).Returns(FileOffset + (pages * K4));
            File.Setup(f => f.Lookup(It.IsAny<ulong>(), out It.Ref<GuestMemfdPage>.IsAny))
                .Returns(new LookupDelegate((ulong index, out GuestMemfdPage page) => Pages.TryGetValue(index, out page)));
            File.Setup(f => f.AddNotifier(It.IsAny<IGuestMemfdNotifier>(), It.IsAny<ulong>(), It.IsAny<ulong>()))
                .Returns((IGuestMemfdNotifier n, ulong start, ulong end) =>
                {
                    Notifier = n;
                    Registered = (start, end);
                    return Mock.Of<IDisposable>();
                });
        }

        public delegate bool LookupDelegate(ulong index, out GuestMemfdPage page);

        public CapturedLogs Logs { get; } = new();

        public IommuCore Core { get; }

        public IoPageTable Iopt { get; }

        public Dictionary<ulong, GuestMemfdPage> Pages { get; } = [];

        public Mock<IGuestMemfdPages> File { get; } = new(MockBehavior.Strict);

        public IGuestMemfdNotifier? Notifier { get; private set; }

        public (ulong Start, ulong End) Registered { get; private set; }

        public IommuDomain AddDomain(Mock<IIommuDomainOps> ops, bool guestPrivate, bool strict = true)
        {
            _next.Enqueue(ops);
            Core.AllocPagingDomain(DomainAllocFlags.None, out var domain, strict).ShouldBe(Errno.Ok);
            Iopt.AddDomain(domain!, guestPrivate).ShouldBe(Errno.Ok);
            return domain!;
        }

        public void Bind(ulong length = M2, bool kernelRemap = true)
        {
            ulong iova = Iova;
            Iopt.MapGuestMemfd(File.Object, FileOffset, length, ref iova, IommuProt.Read | IommuProt.Write, allocIova: false, kernelRemap,
                notify: true, Logs.CreateLogger("iommufd"), out _).ShouldBe(Errno.Ok);
        }

        /// <summary>guest_memfd's side of a conversion of one page: the page's new state, then the notifier's three calls.</summary>
        public void Convert(ulong page, bool toPrivate, int folioOrder)
        {
            var reason = toPrivate ? InvalidateReason.ToPrivate : InvalidateReason.ToShared;
            ulong start = FileOffset + (page * K4);
            Notifier!.InvalidateBegin(null!, start, start + K4, reason);
            Notifier.ShouldProceed(null!, start, start + K4, reason).ShouldBe(Errno.Ok);
            ulong first = FileOffset / K4;
            foreach (ulong index in Pages.Keys.ToArray())
                Pages[index] = Pages[index] with { MaxOrder = folioOrder };
            Pages[first + page] = Pages[first + page] with { Shared = !toPrivate };
            Notifier.InvalidateEnd(null!, start, start + K4, reason);
        }
    }

    /// <summary>One 2M folio bound into a guest-private domain and a shared one, their tables as given.</summary>
    private static Setup BoundToTwoDomains(out FakeTable priv, out FakeTable shared)
    {
        var s = new Setup();
        priv = new FakeTable();
        shared = new FakeTable();
        s.AddDomain(Ops(priv), guestPrivate: true);
        s.AddDomain(Ops(shared), guestPrivate: false);
        s.Bind();
        return s;
    }

    [Fact]
    public void TheBinding_RegistersOnItsFileRange_AndMapsA2MFolioWithOne2MPage()
    {
        var s = new Setup();
        var table = new FakeTable();
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind();
        s.Registered.ShouldBe((FileOffset, FileOffset + M2));
        table.Calls.ShouldBe([$"map {Iova:x} 200000"]);
    }

    [Fact]
    public void ToShared_CutsBothEnds_ThenUnmapsOnlyThe4K_AndFlushesBeforeShouldProceedReturns()
    {
        var s = new Setup();
        var table = new FakeTable();
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind();
        table.Calls.Clear();
        ulong page = Iova + 0x5000;
        string[] zap = [$"cut {page:x}", $"cut {page + K4:x}", $"unmap {page:x} 1000", $"sync {page:x}-{page + K4 - 1:x}"];
        var reason = InvalidateReason.ToShared;
        s.Notifier!.InvalidateBegin(null!, FileOffset + 0x5000, FileOffset + 0x6000, reason);
        s.Notifier.ShouldProceed(null!, FileOffset + 0x5000, FileOffset + 0x6000, reason).ShouldBe(Errno.Ok);
        table.Calls.ShouldBe(zap);
        table.Lookup(page + K4).ShouldBe((FirstPfn + 6) * K4);
        table.Lookup(page - K4).ShouldBe((FirstPfn + 4) * K4);
    }

    [Fact]
    public void AfterToShared_TheKernelMapsNothingMoreInAPrivateDomain_AndOneSharedPageInTheOther()
    {
        var s = BoundToTwoDomains(out var priv, out var shared);
        shared.Calls.ShouldBeEmpty();
        priv.Calls.Clear();
        s.Convert(5, toPrivate: false, folioOrder: 0);
        priv.Calls.ShouldNotContain(c => c.StartsWith("map", StringComparison.Ordinal));
        shared.Calls.ShouldBe([$"map {Iova + 0x5000:x} 1000"]);
    }

    [Fact]
    public void ToPrivate_ZapsTheSharedDomainOnly_ThenMapsThePagePrivate_AndMergesOnceTheFolioIs2MAgain()
    {
        var s = BoundToTwoDomains(out var priv, out var shared);
        s.Convert(5, toPrivate: false, folioOrder: 0);
        priv.Calls.Clear();
        shared.Calls.Clear();
        s.Convert(5, toPrivate: true, folioOrder: 9);
        shared.Calls.ShouldBe([$"cut {Iova + 0x5000:x}", $"cut {Iova + 0x6000:x}", $"unmap {Iova + 0x5000:x} 1000", $"sync {Iova + 0x5000:x}-{Iova + 0x5FFF:x}"]);
        priv.Calls.ShouldBe([$"map {Iova + 0x5000:x} 1000", $"merge {Iova:x} 200000"]);
        priv.SizeAt(Iova).ShouldBe(M2);
    }

    [Fact]
    public void WhileTheFolioStaysSplit_NoMergeIsAsked()
    {
        var s = new Setup();
        var priv = new FakeTable();
        s.AddDomain(Ops(priv), guestPrivate: true);
        s.Bind();
        s.Convert(5, toPrivate: false, folioOrder: 0);
        priv.Calls.Clear();
        s.Convert(5, toPrivate: true, folioOrder: 0);
        priv.Calls.ShouldBe([$"map {Iova + 0x5000:x} 1000"]);
    }

    [Fact]
    public void AnRmpCapOf4K_NeverAsksForALargerPage_EvenOverContiguousAlignedFrames()
    {
        var s = new Setup();
        foreach (ulong index in s.Pages.Keys.ToArray())
            s.Pages[index] = s.Pages[index] with { MaxOrder = 0 };
        var table = new FakeTable();
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind();
        table.Calls.Count.ShouldBe(512);
        table.Calls.ShouldAllBe(c => c.EndsWith(" 1000", StringComparison.Ordinal));
    }

    [Fact]
    public void ACutWithoutMemory_ZapsTheWhole2MPage_AndMapsItsRestAgainAt4K()
    {
        var s = new Setup();
        var table = new FakeTable { CutResult = Errno.ENOMEM };
        s.AddDomain(Ops(table), guestPrivate: true);
        s.Bind();
        table.Calls.Clear();
        s.Notifier!.ShouldProceed(null!, FileOffset + 0x5000, FileOffset + 0x6000, InvalidateReason.ToShared).ShouldBe(Errno.Ok);
        table.Calls.Take(4).ShouldBe([$"cut {Iova + 0x5000:x}", $"cut {Iova + 0x6000:x}", $"unmap {Iova:x} 200000", $"sync {Iova:x}-{Iova + M2 - 1:x}"]);
        table.Calls.Skip(4).Count().ShouldBe(511);
        table.Lookup(Iova + 0x5000).ShouldBe(0UL);
        table.Lookup(Iova + 0x6000).ShouldBe((FirstPfn + 6) * K4);
        s.Logs.All.Count(r => r.Id.Id == 4022 && r.Level == LogLevel.Warning).ShouldBe(2);
    }

    [Fact]
    public void ADomainWithoutCut_IsZappedWhole2M_TheSameWay()
    {
        var s = new Setup();
        var table = new FakeTable();
        s.AddDomain(Ops(table, resize: false), guestPrivate: true);
        s.Bind();
        table.Calls.Clear();
        s.Notifier!.ShouldProceed(null!, FileOffset, FileOffset + K4, InvalidateReason.ToShared).ShouldBe(Errno.Ok);
        table.Calls.Take(2).ShouldBe([$"unmap {Iova:x} 200000", $"sync {Iova:x}-{Iova + M2 - 1:x}"]);
        table.Lookup(Iova).ShouldBe(0UL);
        table.Lookup(Iova + K4).ShouldBe((FirstPfn + 1) * K4);
    }

    [Fact]
    public void Truncate_ZapsEveryDomain_AndARangeOutsideTheBindingIsIgnored()
    {
        var s = BoundToTwoDomains(out var priv, out var shared);
        s.Convert(7, toPrivate: false, folioOrder: 0);
        priv.Calls.Clear();
        shared.Calls.Clear();
        s.Notifier!.ShouldProceed(null!, 0, FileOffset, InvalidateReason.Truncate).ShouldBe(Errno.Ok);
        priv.Calls.ShouldBeEmpty();
        s.Notifier.ShouldProceed(null!, 0, ulong.MaxValue, InvalidateReason.Truncate).ShouldBe(Errno.Ok);
        shared.Calls.ShouldContain($"unmap {Iova + 0x7000:x} 1000");
        priv.Lookup(Iova).ShouldBe(0UL);
        shared.Lookup(Iova + 0x7000).ShouldBe(0UL);
    }

    [Fact]
    public void SplitHuge_CutsEach2MPageOnce_BelowItsHead_AndLeavesADomainWithNothingThereAlone()
    {
        var s = BoundToTwoDomains(out var priv, out var shared);
        priv.Calls.Clear();
        s.Notifier!.SplitHuge(null!, FileOffset, FileOffset + M2).ShouldBe(Errno.Ok);
        priv.Calls.ShouldBe([$"cut {Iova + K4:x}"]);
        shared.Calls.ShouldBeEmpty();
        priv.SizeAt(Iova).ShouldBe(K4);
        priv.SizeAt(Iova + M2 - K4).ShouldBe(K4);
        priv.Lookup(Iova + 0x12345).ShouldBe((FirstPfn * K4) + 0x12345);
        s.Notifier.SplitHuge(null!, 0, FileOffset).ShouldBe(Errno.Ok, "before the area");
        priv.Calls.Count.ShouldBe(1);
        s.Logs.Single(4027, LogLevel.Debug).GetStructuredStateValue("Domains").ShouldBe("2");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WhereTheDomainCannotCut_SplitHugeZapsThe2MPage_AndMapsItAgainAt4K(bool resize)
    {
        var s = new Setup();
        var table = new FakeTable { CutResult = Errno.ENOMEM };
        s.AddDomain(Ops(table, resize), guestPrivate: true);
        s.Bind();
        table.Calls.Clear();
        s.Notifier!.SplitHuge(null!, FileOffset, FileOffset + M2).ShouldBe(Errno.Ok);
        string[] zap = [$"unmap {Iova:x} 200000", $"sync {Iova:x}-{Iova + M2 - 1:x}"];
        string[] expected = resize ? [$"cut {Iova + K4:x}", .. zap] : zap;
        table.Calls.Take(expected.Length).ShouldBe(expected);
        table.Calls.Skip(expected.Length).ShouldBe(Enumerable.Range(0, 512).Select(i => $"map {Iova + ((ulong)i * K4):x} 1000"));
        table.SizeAt(Iova + 0x5000).ShouldBe(K4);
        table.Lookup(Iova + 0x5008).ShouldBe(((FirstPfn + 5) * K4) + 8);
        s.Logs.Single(4028, LogLevel.Warning).GetStructuredStateValue("Error").ShouldBe(resize ? "ENOMEM" : "EOPNOTSUPP");
    }

    private static int Lookups(Mock<IIommuDomainOps> ops) => ops.Invocations.Count(i => i.Method.Name == nameof(IIommuDomainOps.IovaToPhys));

    [Theory]
    [InlineData(9)]
    [InlineData(0)]
    public void ABind_AndADomainAddedLater_MapWithoutLookingUpAPage_ForTheyMapNothingThereYet(int order)
    {
        var s = new Setup();
        foreach (ulong index in s.Pages.Keys.ToArray())
            s.Pages[index] = s.Pages[index] with { MaxOrder = order };
        var first = Ops(new FakeTable());
        s.AddDomain(first, guestPrivate: true);
        s.Bind();
        var laterTable = new FakeTable();
        var later = Ops(laterTable);
        s.AddDomain(later, guestPrivate: true);
        Lookups(first).ShouldBe(0);
        Lookups(later).ShouldBe(0);
        laterTable.Calls.Count.ShouldBe(order == 9 ? 1 : 512);
        laterTable.SizeAt(Iova + 0x5000).ShouldBe(order == 9 ? M2 : K4);
    }

    [Fact]
    public void AConversionInASplitFolio_LooksUpOnlyThePageItZaps_NotTheWholeBlock()
    {
        var s = new Setup();
        var table = new FakeTable();
        var ops = Ops(table);
        s.AddDomain(ops, guestPrivate: true);
        s.Bind();
        s.Convert(5, toPrivate: false, folioOrder: 0);
        Lookups(ops).ShouldBe(1);
        s.Convert(5, toPrivate: true, folioOrder: 0);
        // The return maps the page (one look to see it is not mapped) and nothing else is looked at.
        Lookups(ops).ShouldBe(2);
        table.SizeAt(Iova + 0x5000).ShouldBe(K4);
    }
}
