using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Bus;
using Driver.Platform.Dma;
using Driver.Platform.Interrupts;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;
using Driver.Platform.Monitors;
using Driver.Platform.Psp;
using Driver.Platform.Snp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform;

/// <summary>
/// The simulated machine, wired: memory, clock and scheduler, the MMIO bus with
/// an AMD IOMMU (at QEMU's address) and a PSP, the RMP and the CPU's SNP
/// instructions, DMA agents and the invariant monitors. The kernel gets only
/// the hardware interfaces: <see cref="KernelMemory"/>, <see cref="Mmio"/>,
/// <see cref="Cpu"/>, <see cref="Clock"/> and <see cref="Notify"/>. One kernel
/// thread drives a machine: the scheduler refuses entry from a second thread.
/// </summary>
public sealed class Machine
{
    public const ulong IommuMmioBase = 0xFED8_0000;
    public const ulong PspMmioBase = 0xFC00_0000;

    /// <summary>The interrupt line of the IOMMU's MSI (event log and COMPLETION_WAIT interrupts).</summary>
    public const int IommuIrq = 24;

    /// <summary>The interrupt line of the PSP (its command-completion interrupt).</summary>
    public const int PspIrq = 25;

    private readonly List<DmaAgent> _agents = [];

    public Machine(MachineConfig? config = null)
    {
        Config = config ?? new MachineConfig();
        Costs = Config.Costs;
        SimClock = new SimClock();
        Scheduler = new Scheduler(SimClock, Config.Seed, Config.ExtraInterleaving);
        Memory = new PhysicalMemory(Config.LinearFrames);
        var kernelMemory = new KernelMemory(Memory, Scheduler, Costs);
        KernelMemory = kernelMemory;
        Rmp = new RmpTable(Memory, Config.RmpBase, Config.RmpCoveredBytes);
        Monitor = new InvariantMonitor(SimClock, Rmp, Config.LoggerFactory);
        Iommu = new AmdIommu(Memory, Scheduler, Costs, Config.Iommu, Rmp, Config.LoggerFactory) { Monitor = Config.Monitors ? Monitor : null };
        if (Config.Monitors)
            kernelMemory.Written = Iommu.KernelWrote;
        Interrupts = new InterruptController(Config.LoggerFactory);
        Scheduler.Interrupts = Interrupts;
        Iommu.Interrupt += () => Interrupts.Raise(IommuIrq);
        // The machine's factory reaches the PSP too, unless its own configuration names one.
        var psp = Config.Psp.LoggerFactory == NullLoggerFactory.Instance ? Config.Psp with { LoggerFactory = Config.LoggerFactory } : Config.Psp;
        Firmware = new SnpFirmware(Memory, Rmp, Iommu, Scheduler, Costs, psp);
        Psp = new PspDevice(Firmware, Scheduler);
        Psp.Interrupt += () => Interrupts.Raise(PspIrq);
        Cpu = new SnpCpu(Rmp, Scheduler, Costs, Config.LoggerFactory);
        Bus = new MmioBus(Scheduler, Costs, Config.LoggerFactory);
        Bus.Map(IommuMmioBase, AmdIommuMmio.Size, Iommu);
        Bus.Map(PspMmioBase, PspMmio.Size, Psp);
        // Firmware and the command processor finish before DMA due at the same instant.
        Scheduler.Register(Iommu);
        Scheduler.Register(Psp);
    }

    public MachineConfig Config { get; }

    public CostModel Costs { get; }

    public SimClock SimClock { get; }

    public Scheduler Scheduler { get; }

    /// <summary>Physical memory as devices see it (no interleaving points).</summary>
    public PhysicalMemory Memory { get; }

    /// <summary>Physical memory as the kernel's direct map: every access lets due DMA run first.</summary>
    public IPhysicalMemory KernelMemory { get; }

    public IMmio Mmio => Bus;

    /// <summary>Interrupts as the kernel receives them (request_irq).</summary>
    public InterruptController Interrupts { get; }

    public MmioBus Bus { get; }

    public IClock Clock => Scheduler;

    public ISnpCpu Cpu { get; }

    /// <summary>A vCPU of the guest running with <paramref name="asid"/>: its PVALIDATE.</summary>
    public ISnpGuestCpu GuestCpu(ushort asid) => new SnpGuestCpu(Rmp, Scheduler, Costs, asid, Config.LoggerFactory);

    public IPlatformNotify Notify => Monitor;

    public InvariantMonitor Monitor { get; }

    public RmpTable Rmp { get; }

    public AmdIommu Iommu { get; }

    public PspDevice Psp { get; }

    internal SnpFirmware Firmware { get; }

    public IReadOnlyList<DmaAgent> Agents => _agents;

    /// <summary>Plugs in a DMA-capable device; it starts at its configured time.</summary>
    public DmaAgent AddDmaAgent(DmaAgentConfig config)
    {
        var agent = new DmaAgent(config, Iommu, Memory, Scheduler, Costs, Config.LoggerFactory);
        _agents.Add(agent);
        Scheduler.Register(agent);
        return agent;
    }
}
