using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>What the frame allocator prints (event ids 1000-1099).</summary>
public sealed class FrameAllocatorLoggingTests
{
    private const ulong Base = 0x10_0000_0000;

    [Fact]
    public void Exhaustion_IsAWarning_WithTheZone()
    {
        var logs = new CapturedLogs();
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 2 * Page.Size, logs);
        allocator.TryAlloc(out _).ShouldBeTrue();
        allocator.TryAlloc(out _).ShouldBeTrue();
        logs.All.ShouldBeEmpty();
        allocator.TryAlloc(out _).ShouldBeFalse();
        var record = logs.Single(1000, LogLevel.Warning);
        record.GetStructuredStateValue("BasePa").ShouldBe(CapturedLogs.Value(Base));
        record.GetStructuredStateValue("FrameCount").ShouldBe("2");
    }

    [Fact]
    public void DoubleFree_IsAnError_BeforeTheBug()
    {
        var logs = new CapturedLogs();
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 2 * Page.Size, logs);
        allocator.TryAlloc(out ulong pa).ShouldBeTrue();
        allocator.Free(pa);
        Should.Throw<InvalidOperationException>(() => allocator.Free(pa));
        logs.Single(1001, LogLevel.Error).GetStructuredStateValue("Pa").ShouldBe(CapturedLogs.Value(pa));
        allocator.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void FreeOutsideTheZone_IsAnError_BeforeTheBug()
    {
        var logs = new CapturedLogs();
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 2 * Page.Size, logs);
        Should.Throw<InvalidOperationException>(() => allocator.Free(Base + (2 * Page.Size)));
        var record = logs.Single(1002, LogLevel.Error);
        record.GetStructuredStateValue("Pa").ShouldBe(CapturedLogs.Value(Base + (2 * Page.Size)));
        record.GetStructuredStateValue("BasePa").ShouldBe(CapturedLogs.Value(Base));
    }
}
