using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>What the IOMMU binding reads of a guest_memfd: present pages only, no allocation, no reference, inside a notifier too.</summary>
public sealed class LookupPageTests
{
    [Fact]
    public void APresentPage_GivesItsFrameOrderAndState_WithoutAReference()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2 + (2 * K4), huge: true);
        file.GetPfn(3, out ulong pfn3, out _).ShouldBe(Errno.Ok);
        file.GetPfn(512, out ulong tail, out _).ShouldBe(Errno.Ok);
        Convert(file, M2 + K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.GetPfn(513, out ulong shared, out _).ShouldBe(Errno.Ok);

        file.LookupPage(3, out ulong pfn, out int order, out bool isShared).ShouldBeTrue();
        (pfn, order, isShared).ShouldBe((pfn3, 9, false));
        file.LookupPage(512, out pfn, out order, out isShared).ShouldBeTrue();
        (pfn, order, isShared).ShouldBe((tail, 0, false));
        file.LookupPage(513, out pfn, out order, out isShared).ShouldBeTrue();
        (pfn, order, isShared).ShouldBe((shared, 0, true));
        f.User.Pages.RefCount(pfn3).ShouldBe(1, "only the file's own");
        f.User.Pages.RefCount(shared).ShouldBe(1);
    }

    [Fact]
    public void AHoleAPoisonedPageAndAnIndexPastTheEnd_AreFalse_AndAllocateNothing()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4, GuestMemfdFlags.InitShared);
        file.LookupPage(0, out ulong pfn, out int order, out bool shared).ShouldBeFalse();
        (pfn, order, shared).ShouldBe((0UL, 0, false));
        file.PresentPages.ShouldBe(0);
        f.User.Frames.FramesInUse.ShouldBe(0);

        file.GetPfn(1, out ulong poisoned, out _).ShouldBe(Errno.Ok);
        f.User.Pages.SetHwPoison(poisoned);
        file.LookupPage(1, out pfn, out order, out shared).ShouldBeFalse();
        (pfn, order, shared).ShouldBe((0UL, 0, false));
        file.LookupPage(4, out _, out _, out _).ShouldBeFalse();
        file.LookupPage(ulong.MaxValue, out _, out _, out _).ShouldBeFalse();
    }

    [Fact]
    public void AFileThatIsGone_HasNoPages()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * K4);
        file.GetPfn(0, out _, out _).ShouldBe(Errno.Ok);
        file.LookupPage(0, out _, out _, out _).ShouldBeTrue();
        file.Release();
        file.LookupPage(0, out ulong pfn, out _, out _).ShouldBeFalse();
        pfn.ShouldBe(0UL);
    }

    [Fact]
    public void FromANotifier_UnderTheExclusiveLock_ItReadsThePageStateBeforeTheChange()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        file.GetPfn(2, out ulong pfn2, out _).ShouldBe(Errno.Ok);
        var seen = new List<string>();
        var notifier = new Mock<IGuestMemfdNotifier>();
        notifier.Setup(n => n.ShouldProceed(file, 2 * K4, 3 * K4, InvalidateReason.ToShared))
            .Callback(() => seen.Add(Look(file, 2)))
            .Returns(Errno.Ok);
        notifier.Setup(n => n.InvalidateEnd(file, 2 * K4, 3 * K4, InvalidateReason.ToShared))
            .Callback(() => seen.Add(Look(file, 2)));
        using var subscription = file.AddNotifier(notifier.Object, 0, 4 * K4);

        Convert(file, 2 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        seen.ShouldBe([$"True:{pfn2:x}:False:True", $"True:{pfn2:x}:True:True"]);
        file.InvalidateLockHeldExclusively.ShouldBeFalse();
    }

    private static string Look(GuestMemfd file, ulong index)
    {
        bool found = file.LookupPage(index, out ulong pfn, out _, out bool shared);
        return $"{found}:{pfn:x}:{shared}:{file.InvalidateLockHeldExclusively}";
    }
}
