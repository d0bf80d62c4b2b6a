using Driver.Hw.Interfaces;
using Driver.Platform.Memory;

namespace Driver.Platform.Tests.Memory;

public sealed class PhysicalMemoryTests
{
    [Fact]
    public void UntouchedMemory_ReadsZero_WithoutComingIntoBeing()
    {
        var memory = new PhysicalMemory();
        memory.ReadU64(0x1234_5678_9000).ShouldBe(0UL);
        var bytes = new byte[16];
        bytes.AsSpan().Fill(0xAA);
        memory.Read(IPhysicalMemory.Limit - 16, bytes);
        bytes.ShouldAllBe(b => b == 0);
        memory.Fill(0x5000, 0x3000, 0);
        memory.TouchedFrames.ShouldBe(0);
    }

    [Fact]
    public void Words_RoundTrip_AndCreateOneFramePerPage()
    {
        var memory = new PhysicalMemory();
        memory.WriteU64(0x1000, 0x1122_3344_5566_7788);
        memory.WriteU64(0x1FF8, ulong.MaxValue);
        memory.WriteU64(IPhysicalMemory.Limit - 8, 42);
        memory.ReadU64(0x1000).ShouldBe(0x1122_3344_5566_7788UL);
        memory.ReadU64(0x1FF8).ShouldBe(ulong.MaxValue);
        memory.ReadU64(0x1008).ShouldBe(0UL);
        memory.ReadU64(IPhysicalMemory.Limit - 8).ShouldBe(42UL);
        memory.TouchedFrames.ShouldBe(2);
        var bytes = new byte[8];
        memory.Read(0x1000, bytes);
        BitConverter.ToUInt64(bytes).ShouldBe(0x1122_3344_5566_7788UL);
    }

    [Fact]
    public void ASparseTerabyteCostsOnlyTheFramesTouched()
    {
        var memory = new PhysicalMemory();
        for (ulong gib = 0; gib < 1024; gib++)
            memory.WriteU64((gib << 30) + 0x20_0000, gib);
        memory.TouchedFrames.ShouldBe(1024);
        memory.ReadU64((777UL << 30) + 0x20_0000).ShouldBe(777UL);
    }

    [Fact]
    public void CompareExchange_ReplacesOnlyOnMatch_AndReturnsTheOldValue()
    {
        var memory = new PhysicalMemory();
        memory.CompareExchangeU64(0x2000, 5, 0).ShouldBe(0UL);
        memory.ReadU64(0x2000).ShouldBe(5UL);
        memory.CompareExchangeU64(0x2000, 9, 4).ShouldBe(5UL);
        memory.ReadU64(0x2000).ShouldBe(5UL);
        memory.CompareExchangeU64(0x2000, 9, 5).ShouldBe(5UL);
        memory.ReadU64(0x2000).ShouldBe(9UL);
    }

    [Fact]
    public void Bytes_CrossFrameBoundaries()
    {
        var memory = new PhysicalMemory();
        var data = Enumerable.Range(0, 10000).Select(i => (byte)(i * 7)).ToArray();
        memory.Write(0x3FFE, data);
        var back = new byte[10000];
        memory.Read(0x3FFE, back);
        back.ShouldBe(data);
        memory.TouchedFrames.ShouldBe(4);
        memory.ReadU64(0x4000).ShouldBe(BitConverter.ToUInt64(data, 2));

        memory.Fill(0x3FFF, 0x1002, 0x5A);
        memory.Read(0x3FFE, back.AsSpan(0, 4));
        back[..4].ShouldBe(new byte[] { data[0], 0x5A, 0x5A, 0x5A });
        memory.Fill(0x3000, 0x3000, 0);
        memory.ReadU64(0x4000).ShouldBe(0UL);
        memory.ReadU64(0x5FF8).ShouldBe(0UL);
        memory.Fill(0x100000, 8, 1);
        memory.ReadU64(0x100000).ShouldBe(0x0101_0101_0101_0101UL);
    }

    [Fact]
    public void AddressesOutsideThe52BitSpace_AreBugs()
    {
        var memory = new PhysicalMemory();
        Should.Throw<ArgumentOutOfRangeException>(() => memory.ReadU64(IPhysicalMemory.Limit));
        Should.Throw<ArgumentOutOfRangeException>(() => memory.WriteU64(ulong.MaxValue - 7, 0));
        Should.Throw<ArgumentOutOfRangeException>(() => memory.CompareExchangeU64(IPhysicalMemory.Limit, 0, 0));
        Should.Throw<ArgumentOutOfRangeException>(() => memory.Read(IPhysicalMemory.Limit - 4, new byte[8]));
        Should.Throw<ArgumentOutOfRangeException>(() => memory.Write(IPhysicalMemory.Limit, new byte[1]));
        Should.Throw<ArgumentOutOfRangeException>(() => memory.Fill(IPhysicalMemory.Limit - 1, 2, 0));
        Should.Throw<ArgumentOutOfRangeException>(() => memory.Fill(0, ulong.MaxValue, 0));
        memory.Fill(IPhysicalMemory.Limit - 1, 1, 3);
        memory.Read(IPhysicalMemory.Limit - 8, Span<byte>.Empty);
        // Even an empty range must start inside the space.
        Should.Throw<ArgumentOutOfRangeException>(() => memory.Read(IPhysicalMemory.Limit, Span<byte>.Empty));
        memory.TouchedFrames.ShouldBe(1);
    }

    [Fact]
    public void ABadAddress_IsNamedInItsError()
    {
        var memory = new PhysicalMemory();
        Should.Throw<ArgumentOutOfRangeException>(() => memory.ReadU64(IPhysicalMemory.Limit)).Message.ShouldContain("0x10000000000000 lies outside the 52-bit");
        Should.Throw<ArgumentException>(() => memory.ReadU64(0x1004)).Message.ShouldContain("0x1004 is not 8-byte aligned");
        Should.Throw<ArgumentOutOfRangeException>(() => memory.Fill(IPhysicalMemory.Limit - 1, 2, 0)).Message.ShouldContain("range 0xfffffffffffff+0x2 lies outside");
    }

    [Theory]
    [InlineData(0x1001UL)]
    [InlineData(0x1004UL)]
    [InlineData(0x1007UL)]
    public void MisalignedWords_AreBugs(ulong pa)
    {
        var memory = new PhysicalMemory();
        Should.Throw<ArgumentException>(() => memory.ReadU64(pa)).ShouldNotBeOfType<ArgumentOutOfRangeException>();
        Should.Throw<ArgumentException>(() => memory.WriteU64(pa, 1));
        Should.Throw<ArgumentException>(() => memory.CompareExchangeU64(pa, 1, 0));
        memory.TouchedFrames.ShouldBe(0);
    }

    [Fact]
    public void ManyThreadsTouchingNewFrames_LoseNoWrite()
    {
        var memory = new PhysicalMemory();
        const int Threads = 4;
        const ulong Frames = 4096;
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            // Every thread writes its own word of every frame: all race to create each frame.
            for (ulong frame = 0; frame < Frames; frame++)
                memory.WriteU64((frame << 12) + ((ulong)t * 8), frame + (ulong)t);
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        memory.TouchedFrames.ShouldBe((long)Frames);
        for (ulong frame = 0; frame < Frames; frame++)
        {
            for (ulong t = 0; t < Threads; t++)
                memory.ReadU64((frame << 12) + (t * 8)).ShouldBe(frame + t);
        }
    }

    [Fact]
    public void CompareExchange_IsAtomicAcrossThreads()
    {
        var memory = new PhysicalMemory();
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 10000; i++)
            {
                ulong seen = memory.ReadU64(0x8000);
                while (true)
                {
                    ulong old = memory.CompareExchangeU64(0x8000, seen + 1, seen);
                    if (old == seen)
                        break;
                    seen = old;
                }
            }
        });
        memory.ReadU64(0x8000).ShouldBe(40000UL);
    }
}
