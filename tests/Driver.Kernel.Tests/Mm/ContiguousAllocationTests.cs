using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>Higher-order allocations: runs of contiguous frames for rings and tables.</summary>
public sealed class ContiguousAllocationTests
{
    private const ulong Base = 0x8000_0000;

    [Fact]
    public void ARun_IsZeroedContiguousAndCounted_AndItsFramesFreeOneByOne()
    {
        var memory = new PhysicalMemory();
        var allocator = new FrameAllocator(memory, Base, 8 * Page.Size);
        var announced = new List<ulong>();
        allocator.FrameAllocated += announced.Add;
        memory.WriteU64(Base + Page.Size + 16, 0xdead);

        allocator.TryAllocContiguous(3, out ulong pa).ShouldBeTrue();
        pa.ShouldBe(Base);
        announced.ShouldBe([Base, Base + Page.Size, Base + (2 * Page.Size)]);
        memory.ReadU64(Base + Page.Size + 16).ShouldBe(0UL);
        allocator.FramesInUse.ShouldBe(3);
        allocator.TotalAllocs.ShouldBe(3);
        for (int i = 0; i < 3; i++)
            allocator.IsAllocated(pa + ((ulong)i * Page.Size)).ShouldBeTrue();

        allocator.Free(pa + Page.Size);
        allocator.FramesInUse.ShouldBe(2);
        allocator.TryAlloc(out ulong single).ShouldBeTrue();
        single.ShouldBe(pa + Page.Size, "a frame freed out of a run is an ordinary free frame");
    }

    [Fact]
    public void ARun_SkipsHolesTooSmall_AndTheSkippedFramesStayUsable()
    {
        var memory = new PhysicalMemory();
        var allocator = new FrameAllocator(memory, Base, 8 * Page.Size);
        var frames = new ulong[4];
        for (int i = 0; i < 4; i++)
            allocator.TryAlloc(out frames[i]).ShouldBeTrue();
        allocator.Free(frames[1]);
        allocator.Free(frames[2]);

        // Frames 1-2 are a hole of two; three in a row start at frame 4.
        allocator.TryAllocContiguous(3, out ulong run).ShouldBeTrue();
        run.ShouldBe(Base + (4 * Page.Size));
        allocator.TryAllocContiguous(2, out ulong hole).ShouldBeTrue();
        hole.ShouldBe(frames[1]);
        allocator.TryAlloc(out ulong last).ShouldBeTrue();
        last.ShouldBe(Base + (7 * Page.Size));
        allocator.TryAlloc(out _).ShouldBeFalse();
        allocator.FramesInUse.ShouldBe(8);
    }

    [Fact]
    public void ARunThatDoesNotFit_FailsAndChangesNothing_AndSaysSo()
    {
        var memory = new PhysicalMemory();
        var logs = new FakeLogCollector();
        using var factory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        var allocator = new FrameAllocator(memory, Base, 4 * Page.Size, factory);
        allocator.TryAlloc(out ulong first).ShouldBeTrue();
        allocator.TryAllocContiguous(4, out ulong pa).ShouldBeFalse();
        pa.ShouldBe(0UL);
        allocator.FramesInUse.ShouldBe(1);
        var record = logs.GetSnapshot().ShouldHaveSingleItem();
        record.Id.Id.ShouldBe(1003);
        record.Level.ShouldBe(LogLevel.Warning);
        record.GetStructuredStateValue("Frames").ShouldBe("4");
        allocator.TryAllocContiguous(3, out pa).ShouldBeTrue();
        pa.ShouldBe(first + Page.Size);
        Should.Throw<ArgumentOutOfRangeException>(() => allocator.TryAllocContiguous(0, out _));
    }

    [Fact]
    public void FreedFramesBeforeTheUntouchedOnes_JoinARun()
    {
        var memory = new PhysicalMemory();
        var allocator = new FrameAllocator(memory, Base, 4 * Page.Size);
        allocator.TryAlloc(out ulong a).ShouldBeTrue();
        allocator.TryAlloc(out ulong b).ShouldBeTrue();
        allocator.Free(b);
        allocator.TryAllocContiguous(3, out ulong run).ShouldBeTrue();
        run.ShouldBe(b, "frame 1 (freed) and frames 2-3 (untouched) make the run");
        allocator.TryAlloc(out _).ShouldBeFalse();
        allocator.Free(a);
        allocator.TryAlloc(out ulong again).ShouldBeTrue();
        again.ShouldBe(a);
    }
}
