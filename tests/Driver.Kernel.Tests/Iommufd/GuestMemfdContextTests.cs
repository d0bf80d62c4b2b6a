using Driver.Kernel.Iommufd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Iommufd.GuestMemfdRig;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The kernel half of the proposed IOAS_MAP_GUEST_MEMFD: its arguments, the permission it maps with, a refresh to the binding's end, what it logs.</summary>
public sealed class GuestMemfdContextTests
{
    private static Errno MapDirect(GuestMemfdRig g, IoasMapGuestMemfdFlags flags, ulong iova = Iova, ulong offset = 0, ulong length = M2)
    {
        g.Rig.Ctx.GetIoas(g.Ioas, out var ioas).ShouldBe(Errno.Ok);
        return g.Rig.Ctx.IoasMapGuestMemfd(ioas!, new GuestMemfdPages(g.File), offset, length, flags, ref iova);
    }

    [Fact]
    public void NullArguments_AreCallerBugs()
    {
        var g = new GuestMemfdRig();
        g.Rig.Ctx.GetIoas(g.Ioas, out var ioas).ShouldBe(Errno.Ok);
        ulong iova = Iova;
        Should.Throw<ArgumentNullException>(() => g.Rig.Ctx.IoasMapGuestMemfd(null!, new GuestMemfdPages(g.File), 0, M2, IoasMapGuestMemfdFlags.FixedIova, ref iova));
        Should.Throw<ArgumentNullException>(() => g.Rig.Ctx.IoasMapGuestMemfd(ioas!, null!, 0, M2, IoasMapGuestMemfdFlags.FixedIova, ref iova));
    }

    [Theory]
    [InlineData(IoasMapGuestMemfdFlags.Readable, IommuProt.Read)]
    [InlineData(IoasMapGuestMemfdFlags.Writeable, IommuProt.Write)]
    [InlineData(IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable, IommuProt.Read | IommuProt.Write)]
    public void TheBinding_MapsWithThePermissionAskedFor_AndNoOther(IoasMapGuestMemfdFlags access, IommuProt prot)
    {
        var g = new GuestMemfdRig();
        MapDirect(g, IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.KernelRemap | access).ShouldBe(Errno.Ok);
        g.Private.Table.TryLookup(Iova, out PtEntryInfo entry).ShouldBeTrue();
        entry.Prot.ShouldBe(prot);
    }

    [Fact]
    public void ARefreshThatEndsAtTheBindingsLastByte_FindsTheBinding()
    {
        var g = new GuestMemfdRig(size: 4 * M2);
        g.Bind(0, 2 * M2, IoasMapGuestMemfdFlags.None).ShouldBe(Errno.Ok);
        const ulong Last = (2 * M2) - K4;
        g.Convert(Last, K4, toPrivate: false).ShouldBe(Errno.Ok);
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, Last, K4, Iova + Last).ShouldBe(Errno.Ok);
        At(g.Shared, Last).ShouldBe((g.Pa(Last), K4));
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, M2, M2, Iova + M2).ShouldBe(Errno.Ok);
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, M2, M2 + K4, Iova + M2).ShouldBe(Errno.ENOENT, "one page past the binding");
    }

    [Fact]
    public void AMapThatFails_IsLogged_AndOneHeldOffByAConversion_SaysSo()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, M2).ShouldBe(Errno.Ok);
        MapDirect(g, IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.Readable).ShouldNotBe(Errno.Ok);
        var failed = g.Logs.Single(4002, LogLevel.Debug);
        failed.GetStructuredStateValue("Length").ShouldBe(CapturedLogs.Value(M2));
        g.Logs.All.ShouldNotContain(r => r.Id.Id == 4025);

        Errno seen = Errno.Ok;
        var notifier = new Mock<IGuestMemfdNotifier>();
        notifier.Setup(n => n.ShouldProceed(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<InvalidateReason>()))
            .Returns(() =>
            {
                seen = MapDirect(g, IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.Readable, offset: M2);
                return Errno.Ok;
            });
        using (g.File.AddNotifier(notifier.Object, 0, K4))
            g.Convert(0, K4, toPrivate: false).ShouldBe(Errno.Ok);
        seen.ShouldBe(Errno.EAGAIN);
        g.Logs.Single(4025, LogLevel.Debug).GetStructuredStateValue("Iova").ShouldBe(CapturedLogs.Value(Iova));
    }

}
