using Driver.Hw.Interfaces;
using Driver.Platform.Dma;
using Driver.Platform.Time;

namespace Driver.Platform.Tests.Memory;

/// <summary>
/// The kernel's view of memory: the same frames devices see, where every access costs
/// CPU time and lets the DMA that is due run first.
/// </summary>
public sealed class KernelMemoryTests
{
    private const long AccessNs = 7;
    private const ulong Pa = 0x4000_1000;

    private static Machine NewMachine() => new(new MachineConfig { Costs = new CostModel { CpuMemoryAccessNs = AccessNs } });

    [Fact]
    public void EveryOperation_ReachesTheFramesDevicesSee_AndCostsOneAccess()
    {
        var m = NewMachine();
        IPhysicalMemory kernel = m.KernelMemory;
        long start = m.Clock.NowNs;

        kernel.WriteU64(Pa, 0x1122_3344_5566_7788);
        m.Memory.ReadU64(Pa).ShouldBe(0x1122_3344_5566_7788UL);
        m.Clock.NowNs.ShouldBe(start + AccessNs);

        m.Memory.WriteU64(Pa + 8, 5);
        kernel.ReadU64(Pa + 8).ShouldBe(5UL);
        m.Clock.NowNs.ShouldBe(start + (2 * AccessNs));

        kernel.CompareExchangeU64(Pa + 8, 6, comparand: 4).ShouldBe(5UL);
        m.Memory.ReadU64(Pa + 8).ShouldBe(5UL);
        kernel.CompareExchangeU64(Pa + 8, 6, comparand: 5).ShouldBe(5UL);
        m.Memory.ReadU64(Pa + 8).ShouldBe(6UL);
        m.Clock.NowNs.ShouldBe(start + (4 * AccessNs));

        kernel.Fill(Pa + 0x100, 16, 0xAB);
        m.Memory.ReadU64(Pa + 0x108).ShouldBe(0xABAB_ABAB_ABAB_ABABUL);
        m.Clock.NowNs.ShouldBe(start + (5 * AccessNs));

        kernel.Write(Pa + 0x200, [1, 2, 3]);
        m.Memory.ReadU64(Pa + 0x200).ShouldBe(0x03_0201UL);
        var bytes = new byte[3];
        kernel.Read(Pa + 0x200, bytes);
        bytes.ShouldBe(new byte[] { 1, 2, 3 });
        m.Clock.NowNs.ShouldBe(start + (7 * AccessNs));
    }

    [Fact]
    public void DueDma_RunsBeforeTheAccess_NotBefore()
    {
        // A device reads the word at 10 ns. The kernel's first store ends at 7 ns, before the
        // device is due; the second would end at 14 ns, so the device's read comes first.
        var m = NewMachine();
        var agent = m.AddDmaAgent(new DmaAgentConfig(1, [new DmaOp(Pa, 8, Write: false)]) { StartNs = m.Clock.NowNs + 10 });
        m.KernelMemory.WriteU64(Pa, 1);
        agent.Records.ShouldBeEmpty();
        m.KernelMemory.WriteU64(Pa, 2);
        agent.Records.Count.ShouldBe(1);
        agent.Records[0].Outcome.ShouldBe(DmaOutcome.Completed);
        agent.Records[0].FirstWordRead.ShouldBe(1UL);
    }

    [Fact]
    public void BadAddresses_AreRefused_WithoutChangingMemory()
    {
        var m = NewMachine();
        Should.Throw<ArgumentException>(() => m.KernelMemory.WriteU64(Pa + 4, 1));
        Should.Throw<ArgumentOutOfRangeException>(() => m.KernelMemory.ReadU64(IPhysicalMemory.Limit));
        Should.Throw<ArgumentOutOfRangeException>(() => m.KernelMemory.Fill(IPhysicalMemory.Limit - 8, 16, 1));
        m.Memory.TouchedFrames.ShouldBe(0);
    }
}
