using Driver.Hw.Kvm;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Kvm;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Iommufd.GuestMemfdRig;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The proposed IOAS_MAP_GUEST_MEMFD on the mock IOMMU: what each domain maps, through conversions both ways and truncation.</summary>
public sealed class GuestMemfdBindingTests
{
    private const ulong Page5 = 0x5000;

    [Fact]
    public void ABinding_MapsPrivatePagesInTheGuestPrivateDomain_At2M_AndNothingInTheSharedOne()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        At(g.Private, 0).ShouldBe((g.Pa(0), M2));
        At(g.Private, M2).ShouldBe((g.Pa(M2), M2));
        At(g.Shared, 0).ShouldBe((0UL, 0UL));
        At(g.Shared, M2 + K4).ShouldBe((0UL, 0UL));
        var bound = g.Logs.Single(4020, LogLevel.Information);
        bound.Message.ShouldContain("proposed IOAS_MAP_GUEST_MEMFD");
        bound.Message.ShouldContain("remap by the kernel");
    }

    [Fact]
    public void ToShared_OfA4KInsideA2MFolio_CutsThePrivateMapping_ZapsOnlyThatPage_AndTheKernelMapsItShared()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        ulong pa = g.Pa(Page5);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);

        At(g.Private, Page5).ShouldBe((0UL, 0UL));
        foreach (ulong offset in new ulong[] { 0, 0x4000, 0x6000, 0x10_0000, M2 - K4 })
        {
            var (at, size) = At(g.Private, offset);
            at.ShouldBe(g.Pa(offset));
            size.ShouldBeLessThan(M2);
        }
        At(g.Private, M2).ShouldBe((g.Pa(M2), M2));
        At(g.Shared, Page5).ShouldBe((pa, K4));
        At(g.Shared, 0x4000).ShouldBe((0UL, 0UL));
        g.Pa(Page5).ShouldBe(pa);
        g.Logs.All.ShouldContain(r => r.Id.Id == 4021 && r.Level == LogLevel.Debug && r.Message.Contains("ToShared"));
        g.Logs.All.ShouldContain(r => r.Id.Id == 4023 && r.Level == LogLevel.Debug);
    }

    [Fact]
    public void BackToPrivate_ZapsTheSharedPage_AndMergesThePrivateMappingBackTo2M()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        g.Convert(Page5, K4, toPrivate: true).ShouldBe(Errno.Ok);
        g.File.FolioOrderAt(0).ShouldBe(9);
        At(g.Shared, Page5).ShouldBe((0UL, 0UL));
        At(g.Private, Page5).ShouldBe((g.Pa(Page5), M2));
        At(g.Private, 0).ShouldBe((g.Pa(0), M2));
    }

    [Fact]
    public void TheConversionsRefcountCheck_Passes_WhileTheIommuMapsTheRange_NoPageHoldsAReferenceOrPin()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Rig.Pages.TotalPins.ShouldBe(0);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        At(g.Shared, Page5).Pa.ShouldNotBe(0UL);
        g.Rig.Pages.RefCount(g.Pa(Page5) / K4).ShouldBe(1);
        // To private checks that only the file holds the page: the shared domain maps it and still it passes.
        g.Convert(Page5, K4, toPrivate: true, out _).ShouldBe(Errno.Ok);
        g.Rig.Pages.TotalPins.ShouldBe(0);
    }

    [Fact]
    public void APinnedUserMappingOfTheSamePage_MakesTheConversionEagain_WhereTheBindingDoesNot()
    {
        var g = new GuestMemfdRig(domains: false);
        GuestMemfd.Create(g.Rig.Pages, g.Rig.Memory, M2, (ulong)(GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared), out var shared).ShouldBe(Errno.Ok);
        shared!.Mmap(g.Rig.Mm, 0, M2, writable: true, out ulong uva).ShouldBe(Errno.Ok);
        g.Rig.Mm.Populate(uva, M2).ShouldBe(Errno.Ok);
        g.Rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        g.Rig.MockDomain(ioas);
        ulong iova = Iova;
        g.Rig.Utils.IoasMap(ioas, uva + Page5, K4, ref iova).ShouldBe(Errno.Ok);
        g.Rig.Mm.Munmap(uva, M2).ShouldBe(Errno.Ok);
        Kvm.GmemFixture.Convert(shared, 0, M2, toPrivate: true, out ulong errorOffset).ShouldBe(Errno.EAGAIN);
        errorOffset.ShouldBe(Page5);
        g.Rig.Utils.IoasUnmap(ioas, Iova, K4).ShouldBe(Errno.Ok);
        Kvm.GmemFixture.Convert(shared, 0, M2, toPrivate: true).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void InUserSpaceMode_TheRangeStaysUnmapped_UntilTheCommandIsReissuedWithRefresh()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2, IoasMapGuestMemfdFlags.None).ShouldBe(Errno.Ok);
        g.Logs.Single(4020, LogLevel.Information).Message.ShouldContain("remap by user space");
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        At(g.Shared, Page5).ShouldBe((0UL, 0UL));
        At(g.Private, Page5).ShouldBe((0UL, 0UL));
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, Page5, K4, Iova + Page5).ShouldBe(Errno.Ok);
        At(g.Shared, Page5).ShouldBe((g.Pa(Page5), K4));

        g.Convert(Page5, K4, toPrivate: true).ShouldBe(Errno.Ok);
        At(g.Shared, Page5).ShouldBe((0UL, 0UL));
        At(g.Private, Page5).ShouldBe((0UL, 0UL));
        At(g.Private, 0).Size.ShouldBeLessThan(M2);
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, 0, M2, Iova).ShouldBe(Errno.Ok);
        At(g.Private, Page5).ShouldBe((g.Pa(Page5), M2));
        g.Logs.All.ShouldNotContain(r => r.Id.Id == 4023);
    }

    [Fact]
    public void ARefreshOfOnePage_MapsThatPageOnly_WhereItsBlockCannotBeOne2MPage()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2, IoasMapGuestMemfdFlags.None).ShouldBe(Errno.Ok);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        g.Convert(0x9000, K4, toPrivate: false).ShouldBe(Errno.Ok);
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, Page5, K4, Iova + Page5).ShouldBe(Errno.Ok);
        At(g.Shared, Page5).ShouldBe((g.Pa(Page5), K4));
        // The other shared page of the block is user space's to refresh: a 4K refresh looks at 4K.
        At(g.Shared, 0x9000).ShouldBe((0UL, 0UL));
    }

    [Fact]
    public void ARefreshOfOnePage_MapsItsWholeBlockAt2M_WhereTheBlockMayBeOne2MPageAgain()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2, IoasMapGuestMemfdFlags.None).ShouldBe(Errno.Ok);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        g.Convert(Page5, K4, toPrivate: true).ShouldBe(Errno.Ok);
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, Page5, K4, Iova + Page5).ShouldBe(Errno.Ok);
        At(g.Private, Page5).ShouldBe((g.Pa(Page5), M2));
        At(g.Private, 0).ShouldBe((g.Pa(0), M2));
        At(g.Private, M2).ShouldBe((g.Pa(M2), M2));
    }

    [Fact]
    public void PunchingAHole_ZapsEveryDomain_AndKeepsTheRestOfTheFolioMapped()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Convert(M2 + Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        At(g.Shared, M2 + Page5).Pa.ShouldNotBe(0UL);
        g.File.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, M2, M2).ShouldBe(Errno.Ok);
        At(g.Shared, M2 + Page5).ShouldBe((0UL, 0UL));
        At(g.Private, M2).ShouldBe((0UL, 0UL));
        At(g.Private, 2 * M2 - K4).ShouldBe((0UL, 0UL));

        ulong pa = g.Pa(0x1000);
        g.File.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, Page5, K4).ShouldBe(Errno.Ok);
        At(g.Private, Page5).ShouldBe((0UL, 0UL));
        At(g.Private, 0x1000).Pa.ShouldBe(pa);
        At(g.Private, 0x6000).Pa.ShouldBe(pa + 0x5000);
        g.Logs.All.ShouldContain(r => r.Id.Id == 4021 && r.Message.Contains("Truncate"));
    }

    [Fact]
    public void ReleasingTheFile_TakesEveryMappingAway()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Rig.Fds.Close(g.Fd).ShouldBe(Errno.Ok);
        g.File.Alive.ShouldBeFalse();
        At(g.Private, 0).ShouldBe((0UL, 0UL));
        At(g.Private, M2).ShouldBe((0UL, 0UL));
        g.Rig.Utils.IoasUnmap(g.Ioas, Iova, 2 * M2).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void UserSpaceUpdatesTouchingTheRange_AreHeldOffWithEagain_BetweenInvalidateBeginAndEnd()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        ulong buffer = g.Rig.Buffer(K4);
        g.Rig.Utils.IoasAlloc(out uint other).ShouldBe(Errno.Ok);
        var seen = new List<Errno>();
        var second = new Mock<IGuestMemfdNotifier>();
        second.Setup(n => n.ShouldProceed(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<InvalidateReason>()))
            .Returns(() =>
            {
                ulong iova = Iova + (3 * M2);
                seen.Add(g.Rig.Utils.IoasUnmap(g.Ioas, Iova, 2 * M2));
                seen.Add(g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, 0, K4, Iova));
                ulong dst = Iova;
                seen.Add(g.Rig.Utils.IoasCopy(other, g.Ioas, Iova, K4, ref dst));
                ulong fixedIova = Iova + M2;
                seen.Add(g.Rig.Utils.IoasMap(g.Ioas, buffer, K4, ref fixedIova));
                seen.Add(g.Rig.Utils.IoasMap(g.Ioas, buffer, K4, ref iova));
                return Errno.Ok;
            });
        using (g.File.AddNotifier(second.Object, 0, 2 * M2))
            g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        seen.ShouldBe([Errno.EAGAIN, Errno.EAGAIN, Errno.EAGAIN, Errno.EAGAIN, Errno.Ok]);
        g.Logs.All.ShouldContain(r => r.Id.Id == 4025);

        ulong again = Iova;
        g.Rig.Utils.IoasCopy(other, g.Ioas, Iova, K4, ref again).ShouldBe(Errno.EOPNOTSUPP);
        g.Rig.Utils.IoasRefreshGuestMemfd(g.Ioas, g.Fd, 0, K4, Iova).ShouldBe(Errno.Ok);
        g.Rig.Utils.IoasUnmap(g.Ioas, Iova, 2 * M2, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(2 * M2);
    }

    [Fact]
    public void WithTheNotifierSwitchedOff_AConversionLeavesThePrivateMappingInPlace()
    {
        var g = new GuestMemfdRig(skipNotifier: true);
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Logs.Single(4026, LogLevel.Warning);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        At(g.Private, Page5).ShouldBe((g.Pa(Page5), M2));
        At(g.Shared, Page5).ShouldBe((0UL, 0UL));
    }

    [Fact]
    public void AnRmpCapOf4K_MapsA2MFolioWith4KPages()
    {
        var g = new GuestMemfdRig(rmpMaxOrder: _ => 0);
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        At(g.Private, 0).ShouldBe((g.Pa(0), K4));
        At(g.Private, M2 - K4).ShouldBe((g.Pa(M2 - K4), K4));
    }

    [Fact]
    public void ADomainAddedLater_IsFilledFromTheCurrentState_AndUnmapRemovesTheNotifier()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Convert(Page5, K4, toPrivate: false).ShouldBe(Errno.Ok);
        var (dev, _, _) = g.Rig.MockDomain(g.Ioas);
        var late = g.Domain(g.AllocPrivate(dev));
        At(late, Page5).ShouldBe((0UL, 0UL));
        At(late, 0).Pa.ShouldBe(g.Pa(0));
        At(late, M2).ShouldBe((g.Pa(M2), M2));

        g.Rig.Ctx.GetIoas(g.Ioas, out var ioas).ShouldBe(Errno.Ok);
        var binding = ioas!.Iopt.Areas.First(Iova, Iova)!.Value.GuestMemfd!;
        binding.Subscribed.ShouldBeTrue();
        g.Rig.Utils.IoasUnmap(g.Ioas, Iova, 2 * M2).ShouldBe(Errno.Ok);
        binding.Subscribed.ShouldBeFalse();
        g.Convert(Page5, K4, toPrivate: true).ShouldBe(Errno.Ok);
        binding.Invalidations[(int)InvalidateReason.ToPrivate].ShouldBe(0);
        At(late, 0).ShouldBe((0UL, 0UL));
    }

    [Fact]
    public void InKernelAccesses_AreRefused_ForGuestMemfdPagesAreNeverPinned()
    {
        var g = new GuestMemfdRig();
        g.Bind(0, 2 * M2).ShouldBe(Errno.Ok);
        g.Rig.Ctx.AccessCreate(Mock.Of<IIommufdAccessOps>(o => o.NeedsPinPages), out var access).ShouldBe(Errno.Ok);
        g.Rig.Ctx.AccessAttach(access!, g.Ioas).ShouldBe(Errno.Ok);
        var pfns = new ulong[1];
        g.Rig.Ctx.AccessPin(access!, Iova, K4, false, pfns).ShouldBe(Errno.EOPNOTSUPP);
        g.Rig.Ctx.AccessRw(access!, Iova, new byte[8], false).ShouldBe(Errno.EOPNOTSUPP);
    }
}
