using Driver.Hw.Sev;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Support;
using Driver.Platform;
using Driver.Platform.Snp;
using Shouldly;

namespace Driver.Kernel.Tests.Psp;

/// <summary>A machine with the AMD IOMMU driver up and the PSP driver probed on it, every log collected.</summary>
internal sealed class PspRig
{
    // Inside the memory the RMP covers (the machine's RMP covers the first 64 GiB), so firmware pages can be made.
    public const ulong ZoneBase = 0x1_0000_0000;
    public const ulong ZoneSize = 64UL << 20;

    // Memory outside the zone for the RMP helpers' pages: 2 MiB aligned, covered by the RMP.
    public const ulong Spare2M = 0x2_0000_0000;

    public PspRig(SevDeviceConfig? config = null, AmdIommuConfig? amd = null, bool initIommu = true, MachineConfig? machine = null, bool interrupts = false)
    {
        Logs = new CapturedLogs();
        Machine = new Machine(machine ?? new MachineConfig());
        Allocator = new FrameAllocator(Machine.KernelMemory, ZoneBase, ZoneSize);
        Amd = new AmdIommuDriver(Machine.Mmio, Machine.KernelMemory, Machine.Clock, Allocator,
            amd ?? new AmdIommuConfig { MmioBase = Machine.IommuMmioBase }, Logs, cpu: Machine.Cpu);
        if (initIommu)
            Amd.Init().ShouldBe(Errno.Ok);
        _interrupts = interrupts;
        Sev = NewDevice(config);
        Sev.Probe().ShouldBe(Errno.Ok);
    }

    private readonly bool _interrupts;

    public CapturedLogs Logs { get; }

    public Machine Machine { get; }

    public FrameAllocator Allocator { get; }

    public AmdIommuDriver Amd { get; }

    public SevDevice Sev { get; }

    public SevDevice NewDevice(SevDeviceConfig? config = null) =>
        new(Machine.Mmio, Machine.KernelMemory, Machine.Clock, Machine.Cpu, Allocator, new AmdIommuSnp(Amd),
            config ?? new SevDeviceConfig { MmioBase = Machine.PspMmioBase, Irq = Machine.PspIrq }, Logs,
            _interrupts ? Machine.Interrupts : null);

    public RmpState State(ulong pa) => RmpStates.Classify(Entry(pa, out _));

    public RmpEntry Entry(ulong pa, out bool is2M) => Machine.Rmp.ReadEffective(pa >> 12, out is2M);

    public void Up()
    {
        Sev.SnpInit(out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
    }

    public SnpPlatformStatusBuffer PlatformStatus()
    {
        Sev.SnpPlatformStatus(out var platform, out var status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        return platform;
    }
}
