using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Tests.Iommu.Amd;
using Driver.Platform.Iommu;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Driver.Kernel.Tests.Iommu.Core;

/// <summary>The core on the AMD driver on the simulated machine: the DMA API end to end, strict and lazy.</summary>
public sealed class CoreOnAmdTests(ITestOutputHelper output)
{
    private const ushort Device = 0x20;
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DmaMap_Translates_AndAfterUnmapAndFlushTheDeviceFaults(bool strict)
    {
        var rig = new AmdRig();
        var core = new IommuCore(rig.Driver, rig.Machine.Clock, new IommuCoreConfig { Strict = strict });
        core.ProbeDevice(Device).ShouldBe(Errno.Ok);
        core.DmaMap(Device, 0x40_0000_0040, 0x3000, Rw, out ulong dma).ShouldBe(Errno.Ok);
        for (ulong offset = 0; offset < 0x3000; offset += 0x800)
        {
            var result = rig.Machine.Iommu.Translate(Device, dma + offset, write: true);
            result.Status.ShouldBe(TranslationStatus.Ok);
            result.Spa.ShouldBe(0x40_0000_0040 + offset);
        }
        core.DmaUnmap(Device, dma, 0x3000).ShouldBe(Errno.Ok);
        if (!strict)
            core.FlushQueue(core.GroupOf(Device)!.Domain).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(Device, dma, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);
        rig.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Probe_OfADeviceOutsideTheTable_IsNoDevice_AndOthersKeepWorking()
    {
        var rig = new AmdRig();
        var core = new IommuCore(rig.Driver, rig.Machine.Clock);
        core.ProbeDevice(Device).ShouldBe(Errno.Ok);
        core.ProbeDevice(0x1000).ShouldBe(Errno.ENODEV);
        core.DmaMap(Device, 0x40_0000_0000, 0x1000, Rw, out ulong dma).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(Device, dma, write: false).Spa.ShouldBe(0x40_0000_0000UL);
    }

    [Fact]
    public void ReplacingTheDomain_MovesTheDevice_AndTheOldDomainIsFlushed()
    {
        var rig = new AmdRig();
        var core = new IommuCore(rig.Driver, rig.Machine.Clock);
        core.ProbeDevice(Device).ShouldBe(Errno.Ok);
        core.AllocPagingDomain(DomainAllocFlags.None, out var domain).ShouldBe(Errno.Ok);
        core.Map(domain!, 0x20_0000, 0x40_0020_0000, 0x20_0000, Rw).ShouldBe(Errno.Ok);
        core.AttachDevice(domain!, Device).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(Device, 0x30_0000, write: true).Spa.ShouldBe(0x40_0030_0000UL);

        core.ReplaceDevice(core.Blocked, Device).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(Device, 0x30_0000, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
        core.ReplaceDevice(core.Identity, Device).ShouldBe(Errno.Ok);
        rig.Machine.Iommu.Translate(Device, 0x1234_5000, write: true).Spa.ShouldBe(0x1234_5000UL);
        core.FreeDomain(domain!).ShouldBe(Errno.Ok);
        rig.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void LazyUnmaps_IssueFarFewerCommandsThanStrict()
    {
        (long Commands, long SimulatedNs) Run(bool strict)
        {
            var rig = new AmdRig();
            var core = new IommuCore(rig.Driver, rig.Machine.Clock, new IommuCoreConfig { Strict = strict });
            core.ProbeDevice(Device).ShouldBe(Errno.Ok);
            var addresses = new ulong[1000];
            for (int i = 0; i < addresses.Length; i++)
                core.DmaMap(Device, 0x40_0000_0000 + ((ulong)i << 12), 0x1000, Rw, out addresses[i]).ShouldBe(Errno.Ok);
            long before = rig.Driver.CommandQueue.CommandsPosted;
            long start = rig.Machine.Clock.NowNs;
            foreach (ulong dma in addresses)
                core.DmaUnmap(Device, dma, 0x1000).ShouldBe(Errno.Ok);
            core.FlushQueue(core.GroupOf(Device)!.Domain).ShouldBe(Errno.Ok);
            rig.Machine.Monitor.Violations.ShouldBeEmpty();
            return (rig.Driver.CommandQueue.CommandsPosted - before, rig.Machine.Clock.NowNs - start);
        }

        var (strictCommands, strictNs) = Run(strict: true);
        var (lazyCommands, lazyNs) = Run(strict: false);
        output.WriteLine($"1000 x 4K unmaps: strict {strictCommands} commands, {strictNs} simulated ns; lazy {lazyCommands} commands, {lazyNs} simulated ns");
        lazyNs.ShouldBeLessThan(strictNs);
        strictCommands.ShouldBe(2000, "an INVALIDATE_IOMMU_PAGES and a COMPLETION_WAIT per unmap");
        lazyCommands.ShouldBe(8, "four full queues of 256 (the last one drained), one flush of the domain each");
    }
}
