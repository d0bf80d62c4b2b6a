using Driver.Hw.Interfaces;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

public sealed class FrameAllocatorTests
{
    private const ulong Base = 0x8000_0000;

    [Fact]
    public void Alloc_HandsOutZeroedFramesOfTheZone_AndCounts()
    {
        var memory = new PhysicalMemory();
        var allocator = new FrameAllocator(memory, Base, 4 * Page.Size);
        allocator.TryAlloc(out ulong a).ShouldBeTrue();
        a.ShouldBe(Base);
        memory.WriteU64(a + 8, 0xdead);
        allocator.TryAlloc(out ulong b).ShouldBeTrue();
        b.ShouldBe(Base + Page.Size);
        allocator.FramesInUse.ShouldBe(2);
        allocator.Free(a);
        allocator.FramesInUse.ShouldBe(1);
        allocator.IsAllocated(a).ShouldBeFalse();

        // A freed frame comes back, zeroed again.
        allocator.TryAlloc(out ulong again).ShouldBeTrue();
        again.ShouldBe(a);
        memory.ReadU64(a + 8).ShouldBe(0UL);
        allocator.IsAllocated(again).ShouldBeTrue();
        allocator.PeakFramesInUse.ShouldBe(2);
        allocator.TotalAllocs.ShouldBe(3);
        allocator.TotalFrees.ShouldBe(1);
        allocator.BasePa.ShouldBe(Base);
        allocator.FrameCount.ShouldBe(4UL);
    }

    [Fact]
    public void Alloc_FailsWhenTheZoneIsFull()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 2 * Page.Size);
        allocator.TryAlloc(out _).ShouldBeTrue();
        allocator.TryAlloc(out _).ShouldBeTrue();
        allocator.TryAlloc(out ulong none).ShouldBeFalse();
        none.ShouldBe(0UL);
        allocator.FramesInUse.ShouldBe(2);
        allocator.PeakFramesInUse.ShouldBe(2);
    }

    [Fact]
    public void Free_OfAFrameNotAllocated_IsABug()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 2 * Page.Size);
        allocator.TryAlloc(out ulong frame).ShouldBeTrue();
        allocator.Free(frame);
        Should.Throw<InvalidOperationException>(() => allocator.Free(frame)).Message.ShouldContain("double free");
        Should.Throw<InvalidOperationException>(() => allocator.Free(Base + Page.Size)).Message.ShouldContain("double free");
        Should.Throw<InvalidOperationException>(() => allocator.Free(Base - Page.Size)).Message.ShouldContain("not a frame of this zone");
        Should.Throw<InvalidOperationException>(() => allocator.Free(Base + (2 * Page.Size))).Message.ShouldContain("not a frame of this zone");
        allocator.TryAlloc(out ulong first).ShouldBeTrue();
        first.ShouldBe(Base);
        Should.Throw<InvalidOperationException>(() => allocator.Free(Base + 8)).Message.ShouldContain("not a frame of this zone");
        allocator.IsAllocated(Base).ShouldBeTrue();
        allocator.Free(Base);
        allocator.IsAllocated(Base + 8).ShouldBeFalse();
        allocator.IsAllocated(Base - Page.Size).ShouldBeFalse();
        allocator.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void FrameEvents_TellWhichFrame()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 2 * Page.Size);
        var allocated = new List<ulong>();
        var freed = new List<ulong>();
        allocator.FrameAllocated += allocated.Add;
        allocator.FrameFreed += freed.Add;
        allocator.TryAlloc(out ulong frame).ShouldBeTrue();
        allocated.ShouldBe([frame]);
        freed.ShouldBeEmpty();
        allocator.Free(frame);
        freed.ShouldBe([frame]);
        allocator.TryAlloc(out ulong again).ShouldBeTrue();
        allocator.TryAlloc(out ulong second).ShouldBeTrue();
        allocator.TryAlloc(out _).ShouldBeFalse();
        allocated.ShouldBe([frame, again, second]);
    }

    [Fact]
    public void Alloc_ZeroesThroughTheMemoryInterface()
    {
        var memory = new Mock<IPhysicalMemory>(MockBehavior.Strict);
        memory.Setup(m => m.Fill(Base, Page.Size, 0));
        var allocator = new FrameAllocator(memory.Object, Base, Page.Size);
        allocator.TryAlloc(out _).ShouldBeTrue();
        memory.Verify(m => m.Fill(Base, Page.Size, 0), Times.Once);
    }

    [Theory]
    [InlineData(0x1001UL, 0x1000UL)]
    [InlineData(0x1000UL, 0x1001UL)]
    [InlineData(0x1000UL, 0UL)]
    public void Zone_MustBeWholeFrames(ulong basePa, ulong size)
    {
        Should.Throw<ArgumentException>(() => new FrameAllocator(new PhysicalMemory(), basePa, size)).Message.ShouldContain("whole frames");
    }

    [Fact]
    public void Zone_MustLieInPhysicalMemory()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new FrameAllocator(new PhysicalMemory(), IPhysicalMemory.Limit, Page.Size)).Message.ShouldContain("outside physical memory");
        Should.Throw<ArgumentOutOfRangeException>(() => new FrameAllocator(new PhysicalMemory(), IPhysicalMemory.Limit - Page.Size, 2 * Page.Size));
        Should.Throw<ArgumentNullException>(() => new FrameAllocator(null!, 0, Page.Size));
        new FrameAllocator(new PhysicalMemory(), IPhysicalMemory.Limit - Page.Size, Page.Size).FrameCount.ShouldBe(1UL);
    }

    [Fact]
    public void ManyThreads_NeverShareAFrame()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 4096 * Page.Size);
        var frames = new System.Collections.Concurrent.ConcurrentBag<ulong>();
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 1024; i++)
            {
                allocator.TryAlloc(out ulong frame).ShouldBeTrue();
                frames.Add(frame);
            }
        });
        frames.Distinct().Count().ShouldBe(4096);
        allocator.FramesInUse.ShouldBe(4096);
    }
}
