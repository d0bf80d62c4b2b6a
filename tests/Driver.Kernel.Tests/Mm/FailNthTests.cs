using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>fail_nth over user memory: every n fails cleanly, and a run past the last site succeeds.</summary>
public sealed class FailNthTests
{
    private const ulong K4 = Page.Size;

    [Fact]
    public void TheNthSite_FailsOnce_AndHitsAreCounted()
    {
        var f = new FailNth();
        f.ShouldFail().ShouldBeFalse();
        f.Hits.ShouldBe(0, "an unarmed site is not counted");
        f.Arm(3);
        f.Armed.ShouldBeTrue();
        f.ShouldFail().ShouldBeFalse();
        f.ShouldFail().ShouldBeFalse();
        f.ShouldFail().ShouldBeTrue();
        f.Fired.ShouldBeTrue();
        f.Armed.ShouldBeFalse();
        f.ShouldFail().ShouldBeFalse();
        f.Hits.ShouldBe(4);
        f.Arm(1);
        f.Fired.ShouldBeFalse();
        f.Disarm();
        f.ShouldFail().ShouldBeFalse();
        Should.Throw<ArgumentOutOfRangeException>(() => f.Arm(0));
    }

    [Fact]
    public void PinningFilePagesThroughAMapping_FailsCleanlyAtEverySite()
    {
        int runs = 0;
        for (int n = 1; n < 100; n++)
        {
            var logs = new CapturedLogs();
            var u = new UserMemory(logs: logs);
            MemFdHandle fd = u.NewMemFd(4 * K4);
            u.Mm.MmapFile(fd, 0, 4 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
            u.Mm.Mmap(2 * K4, out ulong anon).ShouldBe(Errno.Ok);
            var pfns = new ulong[4];
            var more = new ulong[2];

            u.FailNth.Arm(n);
            Errno e = u.Mm.PinUserPages(va, 4, write: true, pfns);
            Errno e2 = e == Errno.Ok ? u.Mm.PinUserPages(anon, 2, write: true, more) : Errno.Ok;
            u.FailNth.Disarm();
            runs++;
            if (!u.FailNth.Fired)
            {
                e.ShouldBe(Errno.Ok);
                e2.ShouldBe(Errno.Ok);
                u.Pages.TotalPins.ShouldBe(6);
                break;
            }
            (e == Errno.ENOMEM || e2 == Errno.ENOMEM).ShouldBeTrue($"n = {n}: {e}, {e2}");
            u.Pages.TotalPins.ShouldBe(e == Errno.Ok ? 4 : 0, $"n = {n}");
            logs.Single(1005, LogLevel.Information);
            if (e == Errno.Ok)
                u.Mm.UnpinUserPages(pfns);
            u.Mm.Dispose();
            fd.Release();
            u.Frames.FramesInUse.ShouldBe(0, $"n = {n}: a frame leaked");
        }
        runs.ShouldBe(1 + 4 + 1 + 2 + 1, "a pin site, four file pages, a pin site, two anonymous pages, then a clean run");
    }

    [Fact]
    public void TheFaultInjectingAllocator_FailsTableFrames_AtTheArmedSite()
    {
        var u = new UserMemory();
        var frames = new FaultInjectingFrameAllocator(u.Frames, u.FailNth);
        u.FailNth.Arm(2);
        frames.TryAlloc(out ulong a).ShouldBeTrue();
        frames.TryAllocContiguous(2, out _).ShouldBeFalse();
        frames.TryAllocContiguous(2, out ulong b).ShouldBeTrue();
        frames.FramesInUse.ShouldBe(3);
        frames.Free(a);
        frames.Free(b);
        frames.Free(b + K4);
        frames.FramesInUse.ShouldBe(0);
    }
}
