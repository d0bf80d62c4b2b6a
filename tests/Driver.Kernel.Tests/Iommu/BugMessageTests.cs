using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Tests.Iommu.Amd;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu;

/// <summary>A caller's bug in the IOMMU layer throws, and the message says what was wrong.</summary>
public sealed class BugMessageTests
{
    [Fact]
    public void TheAmdDriversStructures_BeforeInit()
    {
        var driver = new AmdRig(init: false).Driver;
        Should.Throw<InvalidOperationException>(() => driver.DeviceTable).Message.ShouldContain("not initialised");
        Should.Throw<InvalidOperationException>(() => driver.CommandQueue).Message.ShouldContain("not initialised");
        Should.Throw<InvalidOperationException>(() => driver.EventLog).Message.ShouldContain("not initialised");
    }

    [Fact]
    public void TheRingAndTheDeviceTable_OutOfTheirSizes()
    {
        var memory = new Mock<IPhysicalMemory>().Object;
        var registers = new AmdIommuRegisters(new FakeAmdRegisters(), FakeAmdRegisters.Base);
        Should.Throw<ArgumentOutOfRangeException>(() => new CommandQueue(registers, memory, new Mock<IClock>().Object, 0, 16, 0, NullLogger.Instance))
            .Message.ShouldContain("2^8 to 2^15 entries");
        Should.Throw<ArgumentOutOfRangeException>(() => new DeviceTable(memory, 0, 513)).Message.ShouldContain("1 to 512 pages");
        Should.Throw<ArgumentOutOfRangeException>(() => new DeviceTable(memory, 0, 1).Read(0x80)).Message.ShouldContain("DeviceID 0x0080 is outside");
    }

    [Fact]
    public void FreeingWhatWasNotAllocated()
    {
        Should.Throw<InvalidOperationException>(() => new DomainIdAllocator().Free(7)).Message.ShouldContain("domain id 7");
        Should.Throw<InvalidOperationException>(() => new IovaAllocator(1UL << 32).Free(0x1234_5000)).Message.ShouldContain("IOVA 0x12345000");
        Should.Throw<ArgumentOutOfRangeException>(() => new IovaAllocator(0x2000)).Message.ShouldContain("no IOVA space");
    }

    [Theory]
    [InlineData(0UL, 0x1000UL, "nothing to split")]
    [InlineData(0x1000UL, 0UL, "nothing to split")]
    [InlineData(0x20_0000UL, 0x1000UL, "not aligned to the smallest page")]
    public void ASplitOfNothing_OrOfLessThanThePage(ulong bitmap, ulong size, string why) =>
        Should.Throw<ArgumentOutOfRangeException>(() => PageSizeSplit.Pick(bitmap, 0, 0, size)).Message.ShouldContain(why);
}
