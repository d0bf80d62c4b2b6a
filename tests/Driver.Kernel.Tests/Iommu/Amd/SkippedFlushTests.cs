using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Platform;
using Driver.Platform.Dma;
using Driver.Platform.Monitors;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>
/// A driver whose IOTLB flush posts only its COMPLETION_WAIT (the test-only
/// <see cref="AmdIommuConfig.SkipIotlbInvalidation"/>) is caught by the platform's
/// stale-translation monitor while a device keeps doing DMA; the real flush is not.
/// </summary>
public sealed class SkippedFlushTests
{
    private const ushort Device = 0x30;
    private const ulong Buffer = 0x40_0000_0000;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnUnmapWithoutItsInvalidation_LeavesTheDeviceAStaleTranslation_AndTheMonitorSaysSo(bool skip)
    {
        var rig = new AmdRig(new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, SkipIotlbInvalidation = skip });
        var machine = rig.Machine;
        var core = new IommuCore(rig.Driver, machine.Clock, new IommuCoreConfig { Strict = true });
        core.ProbeDevice(Device).ShouldBe(Errno.Ok);
        core.DmaMap(Device, Buffer, 0x1000, IommuProt.Read | IommuProt.Write, out ulong dma).ShouldBe(Errno.Ok);
        var agent = machine.AddDmaAgent(new DmaAgentConfig(Device, [new DmaOp(dma + 0x40, 8, Write: true)])
        {
            StartNs = machine.Clock.NowNs + 100,
            IntervalNs = 1_000,
            Transactions = 40,
        });
        machine.Clock.Delay(3_000);
        agent.Records.Count.ShouldBeGreaterThanOrEqualTo(2);
        agent.Records.ShouldAllBe(r => r.Outcome == DmaOutcome.Completed);

        machine.Notify.SetOperation("dma_unmap");
        core.DmaUnmap(Device, dma, 0x1000).ShouldBe(Errno.Ok);
        long unmapped = machine.Clock.NowNs;
        machine.Notify.SetOperation(null);
        machine.Clock.Delay(40_000);

        var after = agent.Records.Where(r => r.IssuedNs > unmapped).ToList();
        after.Count.ShouldBeGreaterThan(5);
        if (skip)
        {
            after.ShouldAllBe(r => r.Outcome == DmaOutcome.Completed, "the IOTLB still holds the unmapped page");
            var violations = machine.Monitor.Violations;
            violations.Count.ShouldBeGreaterThanOrEqualTo(after.Count);
            violations.ShouldAllBe(v => v.Kind == ViolationKind.StaleTranslationAfterCompletionWait);
            violations.ShouldAllBe(v => v.DeviceId == Device && v.Address == dma + 0x40 && v.Detail == Buffer + 0x40);
        }
        else
        {
            after.ShouldAllBe(r => r.Outcome == DmaOutcome.Faulted);
            machine.Monitor.Violations.ShouldBeEmpty();
        }
    }
}
