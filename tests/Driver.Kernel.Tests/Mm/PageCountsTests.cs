using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

public sealed class PageCountsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(512)]
    public void AFolio_IsAlignedToItsSize_AndOnlyItsFramesStayAllocated(int pages)
    {
        var u = new UserMemory(frames: 2048);
        u.Pages.AllocPage(out _).ShouldBe(Errno.Ok);
        u.Pages.AllocFolio(pages, out ulong first).ShouldBe(Errno.Ok);
        (first % (ulong)pages).ShouldBe(0UL);
        u.Frames.FramesInUse.ShouldBe(1 + pages);
        for (int i = 0; i < pages; i++)
            u.Pages.RefCount(first + (ulong)i).ShouldBe(1);
        u.Pages.LivePages.ShouldBe(1 + pages);
        Should.Throw<ArgumentOutOfRangeException>(() => u.Pages.AllocFolio(3, out _));
    }

    [Fact]
    public void PinsAreReferences_ALastPutFrees_AndBugsAreLoggedAndThrown()
    {
        var logs = new CapturedLogs();
        var u = new UserMemory(logs: logs);
        u.Pages.AllocPage(out ulong pfn).ShouldBe(Errno.Ok);
        u.Pages.Pin(pfn);
        u.Pages.RefCount(pfn).ShouldBe(2);
        u.Pages.Put(pfn);
        Should.Throw<InvalidOperationException>(() => u.Pages.Put(pfn));
        logs.Single(1008, LogLevel.Error);
        u.Pages.IsLive(pfn).ShouldBeTrue();
        u.Pages.Unpin(pfn);
        u.Pages.IsLive(pfn).ShouldBeFalse();
        u.Frames.FramesInUse.ShouldBe(0);
        Should.Throw<InvalidOperationException>(() => u.Pages.Unpin(pfn));
        logs.Single(1006, LogLevel.Error);
        Should.Throw<InvalidOperationException>(() => u.Pages.Get(pfn));
        logs.Single(1007, LogLevel.Error);
    }

    [Fact]
    public void AnExhaustedZone_IsENOMEM_AndLogged()
    {
        var logs = new CapturedLogs();
        var u = new UserMemory(frames: 1, logs: logs);
        u.Pages.AllocPage(out _).ShouldBe(Errno.Ok);
        u.Pages.AllocPage(out _).ShouldBe(Errno.ENOMEM);
        logs.Single(1004, LogLevel.Warning).GetStructuredStateValue("Pages").ShouldBe("1");
    }

    [Fact]
    public void PoisonIsAFlagOfALivePage()
    {
        var u = new UserMemory();
        u.Pages.AllocPage(out ulong pfn).ShouldBe(Errno.Ok);
        u.Pages.IsHwPoison(pfn).ShouldBeFalse();
        u.Pages.SetHwPoison(pfn);
        u.Pages.IsHwPoison(pfn).ShouldBeTrue();
        u.Pages.Put(pfn);
        u.Pages.IsHwPoison(pfn).ShouldBeFalse();
    }
}
