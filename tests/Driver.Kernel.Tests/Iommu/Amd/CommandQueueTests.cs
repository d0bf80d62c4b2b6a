using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu.Amd;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>The command ring protocol against the simulated command processor.</summary>
public sealed class CommandQueueTests
{
    [Fact]
    public void CompletionWait_StoresOneTwoThree()
    {
        var rig = new AmdRig();
        var queue = rig.Driver.CommandQueue;
        for (ulong expected = 2; expected <= 4; expected++)
        {
            queue.CompletionWait().ShouldBe(Errno.Ok);
            queue.LastSemaphoreValue.ShouldBe(expected);
            rig.Machine.KernelMemory.ReadU64(queue.SemaphorePa).ShouldBe(expected);
        }
    }

    [Fact]
    public void Post_WritesTheEntryAtTailAndAdvancesIt()
    {
        var rig = new AmdRig();
        var queue = rig.Driver.CommandQueue;
        uint tail = rig.Driver.Registers.ReadRingIndex(AmdIommuMmio.CommandBufferTailOffset);
        var command = AmdCommand.InvalidateDevtabEntry(0x42);
        queue.Post(command).ShouldBe(Errno.Ok);
        ulong pa = queue.RingPa + (tail * 16UL);
        rig.Machine.KernelMemory.ReadU64(pa).ShouldBe(command.Low);
        rig.Machine.KernelMemory.ReadU64(pa + 8).ShouldBe(command.High);
        rig.Driver.Registers.ReadRingIndex(AmdIommuMmio.CommandBufferTailOffset).ShouldBe((tail + 1) % 512);
    }

    [Fact]
    public void TheRingWrapsAroundWithoutLosingACommand()
    {
        var rig = new AmdRig();
        var queue = rig.Driver.CommandQueue;
        for (int i = 0; i < 1300; i++)
            queue.Post(AmdCommand.InvalidateDevtabEntry((ushort)(i & 0xFF))).ShouldBe(Errno.Ok);
        queue.CompletionWait().ShouldBe(Errno.Ok);
        rig.Driver.Registers.Status.CmdBufRun.ShouldBeTrue();
    }

    [Fact]
    public void AnIllegalCommand_StopsTheProcessor_AndTheWaitReportsIt()
    {
        var rig = new AmdRig();
        var queue = rig.Driver.CommandQueue;
        queue.Post(new AmdCommand(0, 0)).ShouldBe(Errno.Ok, "posting succeeds: the IOMMU rejects it");
        queue.CompletionWait().ShouldBe(Errno.EIO);
        rig.Driver.Registers.Status.CmdBufRun.ShouldBeFalse();
        var record = rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3112);
        record.Level.ShouldBe(LogLevel.Error);
        record.Message.ShouldContain("CmdBufRun = false");
    }

    [Fact]
    public void AStoppedProcessor_FillsTheRing_AndPostReportsEioInsteadOfHanging()
    {
        var rig = new AmdRig();
        var queue = rig.Driver.CommandQueue;
        queue.Post(new AmdCommand(0, 0)).ShouldBe(Errno.Ok);
        var results = new List<Errno>();
        for (int i = 0; i < 600 && (results.Count == 0 || results[^1] == Errno.Ok); i++)
            results.Add(queue.Post(AmdCommand.InvalidateDevtabEntry(1)));
        results[^1].ShouldBe(Errno.EIO);
        results.Count(r => r == Errno.Ok).ShouldBe(510, "one slot stays empty, one holds the illegal command");
    }

    [Fact]
    public void AWaitThatNeverCompletes_TimesOutAfterLinuxsBound()
    {
        var rig = new AmdRig();
        // With the command buffer disabled the processor neither runs nor counts as stopped.
        rig.Driver.Registers.Control = rig.Driver.Registers.Control.WithCmdBufEn(false);
        long before = rig.Machine.Clock.NowNs;
        rig.Driver.CommandQueue.CompletionWait().ShouldBe(Errno.EIO);
        (rig.Machine.Clock.NowNs - before).ShouldBeGreaterThanOrEqualTo(CommandQueue.CompletionWaitPolls * CommandQueue.PollDelayNs);
        var record = rig.Logs.GetSnapshot().Single(r => r.Id.Id == 3110);
        record.GetStructuredStateValue("Polls").ShouldBe("100000");
    }
}
