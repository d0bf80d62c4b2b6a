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
/// KVM guest memory on the SNP machine (monitors off): one in-place conversion of a 4K page inside a 2M
/// private folio, to shared and back (PSMASH, two 4K RMPUPDATEs, the 2M RMPUPDATE of the merge, the
/// stage-2 zaps), per host second; and the fault-in of a 1 GiB guest on 2M folios (512 faults, each
/// a 2M RMPUPDATE and a 2M stage-2 leaf). The simulated time of one round trip and of the 1 GiB fault-in
/// is printed at setup ("simulated:").
/// </summary>
[MemoryDiagnoser]
public class KvmBenchmarks
{
    private const ulong M2 = 2UL << 20;
    private const ulong G1 = 1UL << 30;
    private const ulong GuestBase = 0x4000_0000;
    private const ulong GuestZone = 0x8_0000_0000;

    private Machine _machine = null!;
    private KvmVm _vm = null!;
    private GuestMemfd _file = null!;
    private KvmVm _faultVm = null!;
    private int _faultFd;
    private FdTable _faultFds = null!;

    private sealed record Host(Machine Machine, SevDevice Sev, FrameAllocator Tables, FrameAllocator Guest);

    private static Host NewHost(ulong guestBytes)
    {
        var machine = new Machine(new MachineConfig { Monitors = false });
        var tables = new FrameAllocator(machine.KernelMemory, 0x1_0000_0000, 64UL << 20);
        var amd = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, tables, new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
        Check(amd.Init());
        var sev = new SevDevice(machine.Mmio, machine.KernelMemory, machine.Clock, machine.Cpu, tables, new AmdIommuSnp(amd),
            new SevDeviceConfig { MmioBase = Machine.PspMmioBase });
        Check(sev.Probe());
        Check(sev.SnpInit(out _));
        return new Host(machine, sev, tables, new FrameAllocator(machine.KernelMemory, GuestZone, guestBytes + (4 * M2)));
    }

    private static (KvmVm Vm, GuestMemfd File, int Fd, FdTable Fds) NewGuest(Host host, ulong size, SevAsidPool asids)
    {
        var fds = new FdTable();
        var config = new KvmSnpConfig
        {
            Pages = new PageCounts(host.Guest),
            Memory = host.Machine.KernelMemory,
            Fds = fds,
            TableFrames = host.Tables,
            Sev = host.Sev,
            Cpu = host.Machine.Cpu,
            Asids = asids,
        };
        Check(KvmVm.CreateSnp(config, out KvmVm? vm));
        Check(vm!.SnpLaunchStart(out _));
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(size).CopyTo(create);
        Check(vm.CreateGuestMemfd(create, out int fd));
        Check(vm.SetUserMemoryRegion2(0, GuestBase, size, fd, 0));
        fds.TryGet(fd, out GuestMemfd? file);
        return (vm, file!, fd, fds);
    }

    [GlobalSetup]
    public void Setup()
    {
        var host = NewHost(4 * M2);
        _machine = host.Machine;
        (_vm, _file, _, _) = NewGuest(host, 2 * M2, new SevAsidPool(1));
        Check(_vm.FaultIn(GuestBase, isPrivate: true, out int order));
        if (order != 9)
            throw new InvalidOperationException("the guest is not on a 2M folio");
        long before = _machine.SimClock.NowNs;
        RoundTrip();
        Console.WriteLine($"simulated: one 4K conversion inside 2M, to shared and back: {_machine.SimClock.NowNs - before} ns");
        if (_file.FolioOrderAt(3) != 9)
            throw new InvalidOperationException("the folio did not merge back");

        var faultHost = NewHost(G1);
        long start = faultHost.Machine.SimClock.NowNs;
        var (vm, _, fd, fds) = NewGuest(faultHost, G1, new SevAsidPool(1));
        for (ulong gpa = GuestBase; gpa < GuestBase + G1; gpa += M2)
            Check(vm.FaultIn(gpa, isPrivate: true, out _));
        Console.WriteLine($"simulated: fault-in of a 1 GiB SNP guest on 2M folios: {faultHost.Machine.SimClock.NowNs - start} ns, "
            + $"{vm.Stage2!.MappedPages} pages mapped, {faultHost.Tables.FramesInUse} kernel frames in use");
        Check(fds.Close(fd));
        Check(vm.Destroy());
    }

    [IterationSetup(Target = nameof(FaultIn1GiB))]
    public void NewFaultGuest()
    {
        var host = NewHost(G1);
        (_faultVm, _, _faultFd, _faultFds) = NewGuest(host, G1, new SevAsidPool(1));
    }

    [IterationCleanup(Target = nameof(FaultIn1GiB))]
    public void DropFaultGuest()
    {
        Check(_faultFds.Close(_faultFd));
        Check(_faultVm.Destroy());
    }

    /// <summary>A 4K page inside a 2M private folio goes shared and comes back private.</summary>
    [Benchmark]
    public void Convert4KInside2M_ToSharedAndBack() => RoundTrip();

    /// <summary>512 private faults of 2M each: a 1 GiB guest.</summary>
    [Benchmark]
    public long FaultIn1GiB()
    {
        for (ulong gpa = GuestBase; gpa < GuestBase + G1; gpa += M2)
            Check(_faultVm.FaultIn(gpa, isPrivate: true, out _));
        return _faultVm.Stage2!.MappedPages;
    }

    private void RoundTrip()
    {
        Check(_vm.SetMemoryAttributes(GuestBase + (3 * 4096), 4096, toPrivate: false, out _));
        Check(_vm.SetMemoryAttributes(GuestBase + (3 * 4096), 4096, toPrivate: true, out _));
    }

    private static void Check(Errno e)
    {
        if (e != Errno.Ok)
            throw new InvalidOperationException($"benchmark setup failed: {e}");
    }
}
