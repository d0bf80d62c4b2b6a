using Driver.Kernel.Mm;
using Driver.Platform.Iommu;
using Driver.Scenarios.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>The run's three frame allocators never share a frame, whatever the guest's size.</summary>
public sealed class TestbedZoneTests
{
    private static (ulong Start, ulong End) Zone(FrameAllocator frames) => (frames.BasePa, frames.BasePa + (frames.FrameCount * 4096));

    [Theory]
    [InlineData(64UL << 20)]
    [InlineData(256UL << 30)]
    [InlineData(600UL << 30)]
    [InlineData(1UL << 40)]
    public void KernelPspAndGuestZones_AreDisjoint_AndInThatOrder(ulong guestSize)
    {
        var bed = new Testbed(new ScenarioOptions { GuestSize = guestSize }, RmpGranularity.AmdToday, 1, hugeIoPages: true, NullLoggerFactory.Instance);
        var kernel = Zone(bed.KernelFrames);
        var psp = Zone(bed.PspFrames);
        var guest = Zone(bed.GuestFrames);
        // Room for a 4 KiB IOPTE table per 2 MiB of guest, and for every folio twice over.
        (kernel.End - kernel.Start).ShouldBeGreaterThanOrEqualTo(guestSize / 512);
        (guest.End - guest.Start).ShouldBeGreaterThanOrEqualTo(guestSize * 2);
        kernel.End.ShouldBeLessThanOrEqualTo(psp.Start);
        psp.End.ShouldBeLessThanOrEqualTo(guest.Start);
    }

    [Fact]
    public void ASmallGuest_KeepsTheZonesWhereTheyWere_SoItsRunsAreUnchanged()
    {
        var bed = new Testbed(new ScenarioOptions(), RmpGranularity.AmdToday, 1, hugeIoPages: true, NullLoggerFactory.Instance);
        bed.KernelFrames.BasePa.ShouldBe(0x1_0000_0000UL);
        bed.PspFrames.BasePa.ShouldBe(0x1_8000_0000UL);
        bed.GuestFrames.BasePa.ShouldBe(0x2_0000_0000UL);
    }
}
