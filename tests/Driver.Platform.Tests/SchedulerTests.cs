using Driver.Platform.Time;

namespace Driver.Platform.Tests;

public class SchedulerTests
{
    private sealed class Ticker(string name, long first, long period, int count, List<string> log, SimClock clock) : IEventSource
    {
        private int _left = count;

        public long NextDueNs { get; private set; } = first;

        public void RunNext()
        {
            log.Add($"{name}@{clock.NowNs}");
            NextDueNs = --_left == 0 ? long.MaxValue : NextDueNs + period;
        }
    }

    [Fact]
    public void Due_events_run_in_time_order_before_the_access_completes()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock);
        var log = new List<string>();
        scheduler.Register(new Ticker("a", 10, 30, 3, log, clock));
        scheduler.Register(new Ticker("b", 25, 30, 2, log, clock));
        scheduler.HardwareAccess(40);
        log.ShouldBe(["a@10", "b@25", "a@40"]);
        clock.NowNs.ShouldBe(40);
        scheduler.Delay(100);
        log.ShouldBe(["a@10", "b@25", "a@40", "b@55", "a@70"]);
        clock.NowNs.ShouldBe(140);
        scheduler.EventsRun.ShouldBe(5);
    }

    [Fact]
    public void Ties_run_in_registration_order()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock);
        var log = new List<string>();
        scheduler.Register(new Ticker("first", 5, 1, 1, log, clock));
        scheduler.Register(new Ticker("second", 5, 1, 1, log, clock));
        scheduler.RunUntilIdle();
        log.ShouldBe(["first@5", "second@5"]);
    }

    [Fact]
    public void Run_until_idle_stops_at_the_limit()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock);
        var log = new List<string>();
        scheduler.Register(new Ticker("a", 10, 10, 100, log, clock));
        scheduler.RunUntilIdle(35);
        log.ShouldBe(["a@10", "a@20", "a@30"]);
        clock.NowNs.ShouldBe(30);
    }

    [Fact]
    public void Misuse_throws()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock);
        var source = new Ticker("a", 1, 1, 1, [], clock);
        scheduler.Register(source);
        Should.Throw<InvalidOperationException>(() => scheduler.Register(source));
        Should.Throw<ArgumentOutOfRangeException>(() => scheduler.Delay(-1));
        Should.Throw<ArgumentOutOfRangeException>(() => new Scheduler(clock, 0, 1.5));
        Should.Throw<ArgumentOutOfRangeException>(() => new Scheduler(clock, 0, -0.1));
        clock.MoveTo(5);
        Should.Throw<InvalidOperationException>(() => clock.MoveTo(4));
    }

    private sealed class Stuck : IEventSource
    {
        public long NextDueNs => 3;

        public void RunNext()
        {
        }
    }

    [Fact]
    public void A_source_that_never_moves_on_is_a_simulator_bug()
    {
        var scheduler = new Scheduler(new SimClock());
        scheduler.Register(new Stuck());
        Should.Throw<InvalidOperationException>(() => scheduler.Delay(10));
    }

    [Fact]
    public void Extra_interleavings_pull_pending_events_early_and_replay_by_seed()
    {
        static List<string> Run(ulong seed)
        {
            var clock = new SimClock();
            var scheduler = new Scheduler(clock, seed, 0.5);
            var log = new List<string>();
            scheduler.Register(new Ticker("a", 1_000, 1_000, 20, log, clock));
            scheduler.Register(new Ticker("b", 1_500, 700, 20, log, clock));
            for (int i = 0; i < 40; i++)
                scheduler.HardwareAccess(10);
            log.Add($"early={scheduler.EarlyEventsRun}");
            return log;
        }

        var first = Run(42);
        first.Count.ShouldBeGreaterThan(5);
        first.ShouldAllBe(s => !s.StartsWith("early=0"));
        Run(42).ShouldBe(first);
        Run(43).ShouldNotBe(first);
    }

    [Fact]
    public void Split_mix_is_the_reference_sequence_and_bounded()
    {
        var r = new SplitMix64(0);
        r.Next().ShouldBe(0xE220A8397B1DCDAFUL);
        r.Next().ShouldBe(0x6E789E6AA1B965F4UL);
        var s = new SplitMix64(7);
        for (int i = 0; i < 1000; i++)
            s.NextInt(3).ShouldBeInRange(0, 2);
        Should.Throw<ArgumentOutOfRangeException>(() => new SplitMix64(1).NextInt(0));
        var c = new SplitMix64(9);
        Enumerable.Range(0, 1000).Count(_ => c.Chance(0.25)).ShouldBeInRange(200, 300);
        var never = new SplitMix64(9);
        Enumerable.Range(0, 100).Any(_ => never.Chance(0)).ShouldBeFalse();
        var always = new SplitMix64(9);
        Enumerable.Range(0, 100).All(_ => always.Chance(1)).ShouldBeTrue();
    }

    [Fact]
    public void Cost_model_charges_dma_by_size()
    {
        var costs = new CostModel { DmaSetupNs = 100, DmaBytesPerNs = 16 };
        costs.DmaTransferNs(16).ShouldBe(101);
        costs.DmaTransferNs(17).ShouldBe(102);
        costs.DmaTransferNs(4096).ShouldBe(356);
    }
}

public class SchedulerReentryTests
{
    private sealed class Toucher(Scheduler scheduler) : IEventSource
    {
        public int Runs;

        public long NextDueNs { get; private set; } = 10;

        public void RunNext()
        {
            Runs++;
            NextDueNs = Runs < 3 ? NextDueNs + 10 : long.MaxValue;
            // A device touching hardware from inside an event only moves the clock.
            scheduler.HardwareAccess(4);
        }
    }

    [Fact]
    public void An_event_that_touches_hardware_does_not_recurse_into_the_queue()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock, 5, 1.0);
        var toucher = new Toucher(scheduler);
        scheduler.Register(toucher);
        scheduler.Delay(12);
        toucher.Runs.ShouldBe(1);
        clock.NowNs.ShouldBe(14);
        scheduler.EarlyEventsRun.ShouldBe(0);
        scheduler.HardwareAccess(1);
        toucher.Runs.ShouldBe(2, "pulled in early by the seed");
        scheduler.EarlyEventsRun.ShouldBe(1);
        scheduler.RunUntilIdle();
        toucher.Runs.ShouldBe(3);
        scheduler.HardwareAccess(1);
        scheduler.EarlyEventsRun.ShouldBe(1, "nothing pending, nothing pulled");
    }

    [Fact]
    public void A_second_thread_entering_the_scheduler_is_a_bug_that_throws()
    {
        var m = new Machine();
        m.Clock.Delay(10);
        Exception? caught = null;
        var other = new Thread(() => caught = Record.Exception(() => m.KernelMemory.ReadU64(0)));
        other.Start();
        other.Join();
        caught.ShouldBeOfType<InvalidOperationException>().Message.ShouldContain("one kernel thread per machine");
        m.Clock.Delay(10);
        m.Clock.NowNs.ShouldBe(20, "the owner carries on; the refused access took no time");
    }

    [Fact]
    public void The_first_thread_to_enter_owns_the_scheduler()
    {
        var m = new Machine();
        var other = new Thread(() => m.Clock.Delay(5));
        other.Start();
        other.Join();
        Should.Throw<InvalidOperationException>(() => m.Scheduler.RunUntilIdle());
        Should.Throw<InvalidOperationException>(() => m.Scheduler.AdvanceTo(100));
        Should.Throw<InvalidOperationException>(() => m.Scheduler.HardwareAccess(1));
        m.Clock.NowNs.ShouldBe(5);
    }
}

/// <summary>The kernel's sleep (wait_event_timeout): events run in order, interrupts are delivered, the sleep ends at the wake-up.</summary>
public class SchedulerWaitTests
{
    private sealed class Raiser(SimClock clock, Interrupts.InterruptController irq, long at) : IEventSource
    {
        public long RanAt = -1;

        public long NextDueNs { get; private set; } = at;

        public void RunNext()
        {
            RanAt = clock.NowNs;
            NextDueNs = long.MaxValue;
            irq.Raise(7);
        }
    }

    private static (Scheduler Scheduler, SimClock Clock, Interrupts.InterruptController Irq) Build()
    {
        var clock = new SimClock();
        var irq = new Interrupts.InterruptController();
        return (new Scheduler(clock) { Interrupts = irq }, clock, irq);
    }

    [Fact]
    public void The_sleep_ends_when_the_handler_of_a_raised_line_makes_the_condition_true()
    {
        var (scheduler, clock, irq) = Build();
        bool woken = false;
        irq.RequestIrq(7, () => woken = true).ShouldBeTrue();
        var raiser = new Raiser(clock, irq, 1_234);
        scheduler.Register(raiser);
        scheduler.WaitEventTimeout(() => woken, 1_000_000).ShouldBeTrue();
        clock.NowNs.ShouldBe(1_234);
        raiser.RanAt.ShouldBe(1_234);
        irq.Delivered.ShouldBe(1);
    }

    [Fact]
    public void Without_a_wake_up_the_sleep_reaches_its_deadline_and_runs_what_falls_due_before_it()
    {
        var (scheduler, clock, irq) = Build();
        var early = new Raiser(clock, irq, 300);
        var late = new Raiser(clock, irq, 900);
        scheduler.Register(early);
        scheduler.Register(late);
        scheduler.WaitEventTimeout(() => false, 500).ShouldBeFalse();
        clock.NowNs.ShouldBe(500);
        early.RanAt.ShouldBe(300);
        late.RanAt.ShouldBe(-1);
        irq.Spurious.ShouldBe(1, "line 7 had no handler");
    }

    [Fact]
    public void A_condition_that_already_holds_takes_no_time_and_a_huge_bound_saturates()
    {
        var (scheduler, clock, _) = Build();
        scheduler.WaitEventTimeout(() => true, long.MaxValue).ShouldBeTrue();
        clock.NowNs.ShouldBe(0);
        scheduler.Delay(10);
        scheduler.WaitEventTimeout(() => false, long.MaxValue).ShouldBeFalse();
        clock.NowNs.ShouldBe(long.MaxValue);
    }

    [Fact]
    public void Bad_arguments_and_a_sleep_from_inside_a_device_event_are_bugs()
    {
        var (scheduler, clock, _) = Build();
        Should.Throw<ArgumentNullException>(() => scheduler.WaitEventTimeout(null!, 10));
        Should.Throw<ArgumentOutOfRangeException>(() => scheduler.WaitEventTimeout(() => true, -1));
        var sleeper = new Sleeper(scheduler);
        scheduler.Register(sleeper);
        scheduler.Delay(20);
        sleeper.Caught.ShouldBeOfType<InvalidOperationException>();
        clock.NowNs.ShouldBe(20);
    }

    private sealed class Sleeper(Scheduler scheduler) : IEventSource
    {
        public Exception? Caught;

        public long NextDueNs { get; private set; } = 10;

        public void RunNext()
        {
            NextDueNs = long.MaxValue;
            Caught = Record.Exception(() => scheduler.WaitEventTimeout(() => false, 100));
        }
    }
}
