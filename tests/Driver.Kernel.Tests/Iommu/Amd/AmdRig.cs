using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Mm;
using Driver.Platform;
using Microsoft.Extensions.Logging.Testing;
using Shouldly;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>A simulated machine with the AMD IOMMU driver brought up on it, its log collected.</summary>
internal sealed class AmdRig
{
    public const ulong ZoneBase = 0x20_0000_0000;
    public const ulong ZoneSize = 64UL << 20;

    public AmdRig(AmdIommuConfig? config = null, MachineConfig? machine = null, ulong zoneSize = ZoneSize, bool init = true)
    {
        Machine = new Machine(machine ?? new MachineConfig());
        Allocator = new FrameAllocator(Machine.KernelMemory, ZoneBase, zoneSize);
        Allocator.FrameAllocated += Machine.Notify.TableFrameAllocated;
        Allocator.FrameFreed += Machine.Notify.TableFrameFreed;
        Logs = new FakeLogCollector();
        var factory = new Microsoft.Extensions.Logging.LoggerFactory([new FakeLoggerProvider(Logs)]);
        Driver = new AmdIommuDriver(Machine.Mmio, Machine.KernelMemory, Machine.Clock, Allocator,
            config ?? new AmdIommuConfig { MmioBase = Machine.IommuMmioBase }, factory);
        if (init)
            Driver.Init().ShouldBe(Errno.Ok);
    }

    public Machine Machine { get; }

    public FrameAllocator Allocator { get; }

    public FakeLogCollector Logs { get; }

    public AmdIommuDriver Driver { get; }

    public AmdProtectionDomain NewDomain()
    {
        AmdProtectionDomain.Alloc(Driver, out var domain).ShouldBe(Errno.Ok);
        return domain!;
    }
}
