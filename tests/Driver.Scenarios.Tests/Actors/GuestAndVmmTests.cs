using Driver.Kernel;
using Driver.Platform.Iommu;
using Driver.Scenarios.Actors;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Metrics;
using Driver.Scenarios.Strategies;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Actors;

/// <summary>
/// The guest and the VMM on a booted system, without devices: every request is one share exit, a refused
/// exit is counted and frees its page, and a round trip's latency is what the guest waited for both exits.
/// </summary>
public sealed class GuestAndVmmTests
{
    /// <summary>A strategy that refuses some of its host steps with EBUSY and does what the real one does otherwise.</summary>
    private sealed class Refusing(IConversionStrategy inner, int shareEvery, int returnEvery) : IConversionStrategy
    {
        private int _shares;
        private int _returns;

        public int SharesRefused { get; private set; }

        public int ReturnsRefused { get; private set; }

        public string Name => inner.Name;

        public bool HugeIoPages => inner.HugeIoPages;

        public bool BindsGuestMemfd => inner.BindsGuestMemfd;

        public void Attach(Testbed bed, StrategyCounters counters) => inner.Attach(bed, counters);

        public void Populate(int block, Func<ulong, ulong, bool, bool> validate) => inner.Populate(block, validate);

        public Errno BeforeShare(ulong gpa)
        {
            if (shareEvery != 0 && ++_shares % shareEvery == 0)
            {
                SharesRefused++;
                return Errno.EBUSY;
            }
            return inner.BeforeShare(gpa);
        }

        public Errno SplitRmp(int block) => inner.SplitRmp(block);

        public Errno MakeShared(ulong page) => inner.MakeShared(page);

        public Errno MakePrivate(ulong page) => inner.MakePrivate(page);

        public Errno AfterPrivate(ulong gpa)
        {
            var err = inner.AfterPrivate(gpa);
            if (err == Errno.Ok && returnEvery != 0 && ++_returns % returnEvery == 0)
            {
                ReturnsRefused++;
                return Errno.EBUSY;
            }
            return err;
        }
    }

    private sealed record Outcome(Refusing Strategy, ConversionState State, ConversionCounters Counters, RecordingSink Trace, long Start, long End);

    private static Outcome Run(int shareEvery, int returnEvery, double intervalNs = 10_000, long durationNs = 400_000)
    {
        var strategy = new Refusing(Strategies.Strategies.Create(StrategyNames.Sequenced), shareEvery, returnEvery);
        var bed = ScenarioEngine.BringUp(Workloads.Small, RmpGranularity.AmdToday, 1, strategy, new StrategyCounters());
        var state = new ConversionState(bed.Layout);
        var counters = new ConversionCounters();
        var trace = new RecordingSink();
        var clock = bed.Machine.Scheduler;
        long start = clock.NowNs;
        long end = start + durationNs;
        var guest = new GuestActor(bed, new Vmm(bed, strategy, state, trace), state, counters, trace, 9, intervalNs, start, end);
        while (guest.NextActionNs is var next && next != long.MaxValue)
        {
            next.ShouldBeLessThan(end);
            clock.AdvanceTo(next);
            guest.RunNext(next);
        }
        return new Outcome(strategy, state, counters, trace, start, end);
    }

    private static List<(string Actor, string Name, ulong Start, ulong Duration, string? Detail)> Exits(Outcome o, string name) =>
        o.Trace.Spans.Where(s => s.Actor == "vmm" && s.Name == name).ToList();

    [Fact]
    public void EveryRequest_IsOneShareExit_AndEveryCompletedReturnOneLatency()
    {
        var o = Run(shareEvery: 0, returnEvery: 0);
        var shares = Exits(o, "to-shared");
        var returns = Exits(o, "to-private");
        o.Counters.Requests.ShouldBe(shares.Count);
        o.Counters.Failed.ShouldBe(0);
        o.Counters.Completed.ShouldBe(returns.Count);
        o.Counters.Latency.Count.ShouldBe(returns.Count);
        // About one request per interval (a request for a page still in conversion is dropped).
        shares.Count.ShouldBeInRange(30, 41);
        // Each share is held half an interval: at most one is still out when the run ends.
        (shares.Count - returns.Count).ShouldBeInRange(0, 1);
        o.State.Shared.Count.ShouldBe(shares.Count - returns.Count);
        shares.Concat(returns).ShouldAllBe(s => s.Detail != null && s.Detail.StartsWith("0x") && !s.Detail.Contains(' '));
        shares.Concat(returns).ShouldAllBe(s => s.Start >= (ulong)o.Start && s.Duration > 0);
        // The guest waited for its exits: no round trip is free, none longer than the exits it took.
        o.Counters.Latency.Percentile(50).ShouldBeGreaterThan(0);
        long exitTime = shares.Concat(returns).Sum(s => (long)s.Duration);
        o.Counters.Latency.Max().ShouldBeLessThanOrEqualTo(exitTime);
    }

    [Fact]
    public void ARefusedShare_IsCountedAsFailed_AndItsPageIsFreeAgain()
    {
        var o = Run(shareEvery: 3, returnEvery: 0);
        o.Strategy.SharesRefused.ShouldBeGreaterThan(5);
        var refused = o.Trace.Instants.Where(i => i.Actor == "guest" && i.Name == "share refused").ToList();
        refused.Count.ShouldBe(o.Strategy.SharesRefused);
        refused.ShouldAllBe(i => i.Detail == "EBUSY");
        Exits(o, "to-shared").Count(s => s.Detail!.EndsWith(" EBUSY")).ShouldBe(o.Strategy.SharesRefused);
        o.Counters.Failed.ShouldBe(o.Strategy.SharesRefused);
        o.Counters.Requests.ShouldBe(Exits(o, "to-shared").Count);
        // Only the one share that may still be out holds a page.
        int busy = Enumerable.Range(0, 4 * 512).Count(p => o.State.IsBusy((ulong)p));
        busy.ShouldBe(o.State.Shared.Count);
        busy.ShouldBeInRange(0, 1);
    }

    [Fact]
    public void ARefusedReturn_IsCountedAsFailed_GivesNoLatency_AndFreesItsPage()
    {
        var o = Run(shareEvery: 0, returnEvery: 2);
        o.Strategy.ReturnsRefused.ShouldBeGreaterThan(5);
        o.Trace.Instants.Count(i => i.Actor == "guest" && i.Name == "unshare refused").ShouldBe(o.Strategy.ReturnsRefused);
        o.Counters.Failed.ShouldBe(o.Strategy.ReturnsRefused);
        o.Counters.Completed.ShouldBe(Exits(o, "to-private").Count - o.Strategy.ReturnsRefused);
        o.Counters.Latency.Count.ShouldBe((int)o.Counters.Completed);
        Enumerable.Range(0, 4 * 512).Count(p => o.State.IsBusy((ulong)p)).ShouldBeInRange(0, 1);
    }

    [Fact]
    public void NothingIsDueAtOrAfterTheEnd()
    {
        // An interval longer than the run: the only request would come after the end, so there is none.
        var o = Run(shareEvery: 0, returnEvery: 0, intervalNs: 1_000_000, durationNs: 100_000);
        o.Counters.Requests.ShouldBeLessThanOrEqualTo(1);
        o.Trace.Spans.ShouldAllBe(s => s.Start < (ulong)o.End);
    }
}
