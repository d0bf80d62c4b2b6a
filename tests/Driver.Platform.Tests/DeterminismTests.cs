using Driver.Hw.AmdIommu;
using Driver.Platform.Dma;

namespace Driver.Platform.Tests;

public class DeterminismTests
{
    private static string Run(ulong seed)
    {
        var d = new DeviceRig(new MachineConfig { Seed = seed, ExtraInterleaving = 0.3 }).Init();
        ulong root = d.AllocTable();
        d.SetDte(1, DeviceRig.Dte(root, PagingMode.Level3, 1));
        var agent = d.Machine.AddDmaAgent(new DmaAgentConfig(1, [new DmaOp(0x1000, 64, true), new DmaOp(0x2000, 64, false)]) { IntervalNs = 700, Transactions = 200 });
        // The driver maps, unmaps and remaps while the device runs.
        for (int round = 0; round < 20; round++)
        {
            ulong slot = d.Map4K(root, 3, 0x1000, 0x9000 + (ulong)round * 0x1000);
            d.Map4K(root, 3, 0x2000, 0x9000);
            d.Submit(DeviceRig.InvalidateAllPages(1));
            d.RunCommands();
            d.Mem.WriteU64(slot, 0);
            d.Submit(DeviceRig.InvalidatePages(1, 0x1000));
            d.RunCommands();
        }
        d.Machine.Scheduler.RunUntilIdle();
        return string.Join(";", agent.Records.Select(r => $"{r.IssuedNs}:{r.Outcome}")) + $"|{d.Machine.SimClock.NowNs}|{d.Machine.Scheduler.EarlyEventsRun}";
    }

    [Fact]
    public void The_same_seed_replays_the_same_run_and_another_seed_differs()
    {
        string first = Run(1234);
        first.ShouldContain("Completed");
        first.ShouldContain("Faulted");
        Run(1234).ShouldBe(first);
        Run(99).ShouldNotBe(first);
    }
}
