using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Driver.Hw.Kvm;
using Driver.Kernel;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Driver.Platform;

namespace Driver.Benchmarks;

/// <summary>
/// Host memory of an SNP guest on 2M folios, faulted in whole through KVM's fault path (get_pfn, the 2M
/// RMPUPDATE, the 2M stage-2 leaf): 16 GiB to see the cost per GiB quickly, 1 TiB for the target (under
/// 1 GiB of host memory; the machine's memory is sparse, so guest pages nobody stores into cost nothing).
/// One invocation, in the benchmark process itself (run one benchmark per process: the peak working set
/// is the process's). Each invocation builds its own machine and prints ("memory:") the managed heap the guest retains
/// once faulted in (after a full collection, less the heap before the machine existed) and the
/// process's peak working set; BenchmarkDotNet adds the host time and the bytes allocated.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(GuestMemoryBenchmarkConfig))]
public class GuestMemoryBenchmarks
{
    private const ulong M2 = 2UL << 20;
    private const ulong G1 = 1UL << 30;
    private const ulong GuestBase = 0x4000_0000;
    private const ulong GuestZone = 0x8_0000_0000;
    private const ulong TableZone = 0x1_0000_0000;

    /// <summary>A 16 GiB guest.</summary>
    [Benchmark]
    public long Guest16GiB() => FaultInAndMeasure(16);

    /// <summary>A 1 TiB guest.</summary>
    [Benchmark]
    public long Guest1TiB() => FaultInAndMeasure(1024);

    private static long FaultInAndMeasure(ulong gib)
    {
        ulong size = gib * G1;
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var watch = Stopwatch.StartNew();
        // The RMP covers the guest zone and sits right after it, as the scenarios' testbed places it.
        ulong covered = GuestZone + size + G1;
        var machine = new Machine(new MachineConfig { Monitors = false, RmpBase = covered, RmpCoveredBytes = covered });
        var tables = new FrameAllocator(machine.KernelMemory, TableZone, 64UL << 20);
        var amd = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, tables, new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
        Check(amd.Init());
        var sev = new SevDevice(machine.Mmio, machine.KernelMemory, machine.Clock, machine.Cpu, tables, new AmdIommuSnp(amd),
            new SevDeviceConfig { MmioBase = Machine.PspMmioBase });
        Check(sev.Probe());
        Check(sev.SnpInit(out _));
        var fds = new FdTable();
        var config = new KvmSnpConfig
        {
            Pages = new PageCounts(new FrameAllocator(machine.KernelMemory, GuestZone, size + (4 * M2))),
            Memory = machine.KernelMemory,
            Fds = fds,
            TableFrames = tables,
            Sev = sev,
            Cpu = machine.Cpu,
            Asids = new SevAsidPool(1),
        };
        Check(KvmVm.CreateSnp(config, out KvmVm? vm));
        Check(vm!.SnpLaunchStart(out _));
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(size).CopyTo(create);
        Check(vm.CreateGuestMemfd(create, out int fd));
        Check(vm.SetUserMemoryRegion2(0, GuestBase, size, fd, 0));
        for (ulong gpa = GuestBase; gpa < GuestBase + size; gpa += M2)
        {
            Check(vm.FaultIn(gpa, isPrivate: true, out int order));
            if (order != 9)
                throw new InvalidOperationException($"gpa 0x{gpa:x} was not mapped at 2M");
        }
        long mapped = vm.Stage2!.MappedPages;
        if (mapped != (long)(size >> 12))
            throw new InvalidOperationException($"{mapped} pages mapped of {size >> 12}");
        long retained = GC.GetTotalMemory(forceFullCollection: true) - before;
        double faultSeconds = watch.Elapsed.TotalSeconds;
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        Console.WriteLine($"memory: {gib} GiB SNP guest on 2M folios faulted in: retained heap {Mib(retained):F1} MiB "
            + $"({Mib(retained) / gib:F3} MiB per GiB of guest), peak working set {Mib(peak):F1} MiB, "
            + $"{machine.Memory.TouchedFrames} simulated frames touched, built and faulted in {faultSeconds:F1} s");
        GC.KeepAlive(machine);
        Check(fds.Close(fd));
        Check(vm.Destroy());
        return mapped;
    }

    private static double Mib(long bytes) => bytes / (1024.0 * 1024.0);

    private static void Check(Errno e)
    {
        if (e != Errno.Ok)
            throw new InvalidOperationException($"benchmark setup failed: {e}");
    }
}
