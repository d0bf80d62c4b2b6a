using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu.Amd;
using Microsoft.Extensions.Logging.Testing;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>The command queue's bounded waits, against a register file that never moves and a clock that counts its delays.</summary>
public sealed class CommandQueueBoundsTests
{
    private const ulong Base = 0xFED8_0000;

    /// <summary>Registers that hold what was written (Head never moves unless a test says so) and count reads per offset.</summary>
    private sealed class StillRegisters : IMmio
    {
        public Dictionary<ulong, ulong> Values { get; } = [];

        public Dictionary<ulong, int> Reads { get; } = [];

        public MmioStatus Read32(ulong pa, out uint value)
        {
            Read64(pa, out ulong v);
            value = (uint)v;
            return MmioStatus.Ok;
        }

        public MmioStatus Read64(ulong pa, out ulong value)
        {
            Reads[pa - Base] = Reads.GetValueOrDefault(pa - Base) + 1;
            value = Values.GetValueOrDefault(pa - Base);
            return MmioStatus.Ok;
        }

        public MmioStatus Write32(ulong pa, uint value) => Write64(pa, value);

        public MmioStatus Write64(ulong pa, ulong value)
        {
            Values[pa - Base] = value;
            return MmioStatus.Ok;
        }
    }

    private sealed class CountingClock : IClock
    {
        public long NowNs { get; private set; }

        public long Delays { get; private set; }

        public void Delay(long ns)
        {
            Delays++;
            NowNs += ns;
        }
    }

    private static (CommandQueue Queue, StillRegisters Mmio, CountingClock Clock, FakeLogCollector Logs) Make(bool running)
    {
        var mmio = new StillRegisters();
        mmio.Values[AmdIommuMmio.ControlOffset] = new ControlRegister(0).WithIommuEn(true).WithCmdBufEn(true).Raw;
        mmio.Values[AmdIommuMmio.StatusOffset] = new StatusRegister(0).WithCmdBufRun(running).Raw;
        var clock = new CountingClock();
        var logs = new FakeLogCollector();
        var queue = new CommandQueue(new AmdIommuRegisters(mmio, Base), new Mock<IPhysicalMemory>().Object, clock,
            0x10_0000, 8, 0x20_0000, new FakeLogger(logs));
        return (queue, mmio, clock, logs);
    }

    [Fact]
    public void APostIntoARingWithRoom_DoesNotReadHead()
    {
        var (queue, mmio, _, _) = Make(running: true);
        queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.Ok);
        mmio.Reads.GetValueOrDefault(AmdIommuMmio.CommandBufferHeadOffset).ShouldBe(0);
        new RingPointerRegister(mmio.Values[AmdIommuMmio.CommandBufferTailOffset]).Offset.ShouldBe((ushort)1);
    }

    [Fact]
    public void AFullRingWhoseProcessorHangs_TimesOutAfterLinuxsBound()
    {
        var (queue, _, clock, logs) = Make(running: true);
        for (int i = 0; i < 255; i++)
            queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.Ok);
        clock.Delays.ShouldBe(0);
        queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.EIO);
        clock.Delays.ShouldBe(CommandQueue.RingFullPolls);
        logs.GetSnapshot().ShouldHaveSingleItem().Id.Id.ShouldBe(3111);
        queue.CommandsPosted.ShouldBe(255);
    }

    [Fact]
    public void AFullRingWhoseProcessorStopped_FailsAtOnce()
    {
        var (queue, _, clock, logs) = Make(running: false);
        for (int i = 0; i < 255; i++)
            queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.Ok);
        queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.EIO);
        clock.Delays.ShouldBe(0);
        logs.GetSnapshot().ShouldHaveSingleItem().Id.Id.ShouldBe(3112);
    }

    [Fact]
    public void AFullRing_TakesTheNextCommandOnceHeadMoves()
    {
        var (queue, mmio, clock, _) = Make(running: true);
        for (int i = 0; i < 255; i++)
            queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.Ok);
        mmio.Values[AmdIommuMmio.CommandBufferHeadOffset] = new RingPointerRegister(0).WithOffset(1).Raw;
        queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.Ok);
        clock.Delays.ShouldBe(0);
        new RingPointerRegister(mmio.Values[AmdIommuMmio.CommandBufferTailOffset]).Offset.ShouldBe((ushort)0);
    }

    [Fact]
    public void AWaitThatNeverCompletes_PollsExactlyLinuxsCount()
    {
        var (queue, _, clock, logs) = Make(running: true);
        queue.CompletionWait().ShouldBe(Errno.EIO);
        clock.Delays.ShouldBe(CommandQueue.CompletionWaitPolls);
        clock.NowNs.ShouldBe(CommandQueue.CompletionWaitPolls * CommandQueue.PollDelayNs);
        logs.GetSnapshot().ShouldHaveSingleItem().Id.Id.ShouldBe(3110);
        queue.LastSemaphoreValue.ShouldBe(1UL);
    }

    [Fact]
    public void Program_PointsTheRingAndZeroesBothIndexes()
    {
        var (queue, mmio, _, _) = Make(running: true);
        queue.Post(AmdCommand.InvalidateIommuAll()).ShouldBe(Errno.Ok);
        mmio.Values[AmdIommuMmio.CommandBufferHeadOffset] = new RingPointerRegister(0).WithOffset(1).Raw;
        queue.Program();
        new CommandBufferBaseRegister(mmio.Values[AmdIommuMmio.CommandBufferBaseOffset]).Base.ShouldBe(0x10_0000UL);
        new CommandBufferBaseRegister(mmio.Values[AmdIommuMmio.CommandBufferBaseOffset]).Length.ShouldBe((byte)8);
        mmio.Values[AmdIommuMmio.CommandBufferHeadOffset].ShouldBe(0UL);
        mmio.Values[AmdIommuMmio.CommandBufferTailOffset].ShouldBe(0UL);
    }
}
