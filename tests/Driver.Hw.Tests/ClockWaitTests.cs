using Driver.Hw.Interfaces;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>The busy-waiting fallback of <see cref="IClock.WaitEventTimeout"/> for clocks that cannot sleep.</summary>
public class ClockWaitTests
{
    private sealed class StepClock : IClock
    {
        public long NowNs { get; set; }

        public List<long> Delays { get; } = [];

        public void Delay(long ns)
        {
            Delays.Add(ns);
            NowNs += ns;
        }
    }

    [Fact]
    public void The_condition_is_checked_every_microsecond_until_it_holds()
    {
        var clock = new StepClock();
        IClock wait = clock;
        wait.WaitEventTimeout(() => clock.NowNs >= 3_000, 1_000_000).ShouldBeTrue();
        clock.Delays.ShouldBe([1_000, 1_000, 1_000]);
    }

    [Fact]
    public void The_last_step_stops_at_the_deadline()
    {
        var clock = new StepClock { NowNs = 10 };
        IClock wait = clock;
        wait.WaitEventTimeout(() => false, 2_500).ShouldBeFalse();
        clock.Delays.ShouldBe([1_000, 1_000, 500]);
        clock.NowNs.ShouldBe(2_510);
    }

    [Fact]
    public void A_bound_past_the_end_of_time_saturates_and_bad_arguments_are_bugs()
    {
        var clock = new StepClock { NowNs = long.MaxValue - 1_500 };
        IClock wait = clock;
        wait.WaitEventTimeout(() => false, long.MaxValue).ShouldBeFalse();
        clock.NowNs.ShouldBe(long.MaxValue);
        wait.WaitEventTimeout(() => true, 0).ShouldBeTrue();
        Should.Throw<ArgumentNullException>(() => wait.WaitEventTimeout(null!, 1));
        Should.Throw<ArgumentOutOfRangeException>(() => wait.WaitEventTimeout(() => true, -1));
    }
}
