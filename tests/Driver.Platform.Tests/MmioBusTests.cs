using Driver.Hw.Interfaces;
using Driver.Platform.Bus;
using Driver.Platform.Time;

namespace Driver.Platform.Tests;

public class MmioBusTests
{
    private sealed class Recorder : IMmioDevice
    {
        public readonly List<(ulong Offset, int Size, ulong Value)> Writes = [];

        public ulong Read(ulong offset, int size) => size == 8 ? 0x1122_3344_5566_7788UL + offset : 0xAABB_CC00u + (uint)offset;

        public void Write(ulong offset, int size, ulong value) => Writes.Add((offset, size, value));
    }

    private static (MmioBus Bus, Scheduler Scheduler, Recorder Device) Build()
    {
        var scheduler = new Scheduler(new SimClock());
        var bus = new MmioBus(scheduler, new CostModel { MmioAccessNs = 7 });
        var device = new Recorder();
        bus.Map(0x1000, 0x100, device);
        return (bus, scheduler, device);
    }

    [Fact]
    public void Reads_and_writes_reach_the_device_at_window_offsets()
    {
        var (bus, _, device) = Build();
        bus.Read64(0x1010, out ulong wide).ShouldBe(MmioStatus.Ok);
        wide.ShouldBe(0x1122_3344_5566_7788UL + 0x10);
        bus.Read32(0x1004, out uint narrow).ShouldBe(MmioStatus.Ok);
        narrow.ShouldBe(0xAABB_CC04u);
        bus.Write32(0x1008, 0xdead).ShouldBe(MmioStatus.Ok);
        bus.Write64(0x10F8, 0xbeef).ShouldBe(MmioStatus.Ok);
        device.Writes.ShouldBe([(0x8UL, 4, 0xdeadUL), (0xF8UL, 8, 0xbeefUL)]);
        bus.Errors.ShouldBeEmpty();
    }

    [Fact]
    public void An_access_to_nothing_is_a_reported_bus_error_reading_all_ones()
    {
        var (bus, scheduler, device) = Build();
        bus.Read64(0x2000, out ulong v).ShouldBe(MmioStatus.NoDevice);
        v.ShouldBe(ulong.MaxValue);
        bus.Read32(0xFFC, out uint w).ShouldBe(MmioStatus.NoDevice);
        w.ShouldBe(uint.MaxValue);
        bus.Write32(0x1100, 1).ShouldBe(MmioStatus.NoDevice);
        bus.Errors.Count.ShouldBe(3);
        bus.Errors[2].ShouldBe(new BusError(21, 0x1100, 4, true, MmioStatus.NoDevice));
        device.Writes.ShouldBeEmpty();
        scheduler.NowNs.ShouldBe(21);
    }

    [Fact]
    public void Misaligned_and_straddling_accesses_are_bus_errors()
    {
        var (bus, _, device) = Build();
        bus.Write64(0x1004, 1).ShouldBe(MmioStatus.Misaligned);
        bus.Read32(0x1002, out _).ShouldBe(MmioStatus.Misaligned);
        bus.Errors.Select(e => e.Status).ShouldBe([MmioStatus.Misaligned, MmioStatus.Misaligned]);
        device.Writes.ShouldBeEmpty();
    }

    [Fact]
    public void An_access_running_past_the_end_of_a_window_is_a_bus_error()
    {
        var (bus, _, device) = Build();
        bus.Map(0x2000, 0x104, device);
        bus.Read32(0x2100, out _).ShouldBe(MmioStatus.Ok);
        bus.Read64(0x2100, out _).ShouldBe(MmioStatus.NoDevice);
        device.Writes.ShouldBeEmpty();
    }

    [Fact]
    public void Windows_may_not_overlap_or_be_empty()
    {
        var (bus, _, device) = Build();
        Should.Throw<InvalidOperationException>(() => bus.Map(0x10F0, 0x100, device));
        Should.Throw<InvalidOperationException>(() => bus.Map(0xF80, 0x100, device));
        Should.Throw<ArgumentOutOfRangeException>(() => bus.Map(0x5000, 0, device));
        Should.Throw<ArgumentOutOfRangeException>(() => bus.Map(IPhysicalMemory.Limit - 0x10, 0x100, device));
        bus.Map(0x1100, 0x100, device);
        bus.Write32(0x1100, 5).ShouldBe(MmioStatus.Ok);
        device.Writes.ShouldBe([(0x0UL, 4, 5UL)]);
    }
}
