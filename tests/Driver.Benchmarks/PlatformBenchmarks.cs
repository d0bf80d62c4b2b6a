using BenchmarkDotNet.Attributes;
using Driver.Hw.AmdIommu;
using Driver.Platform;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;

namespace Driver.Benchmarks;

/// <summary>
/// The IOMMU model's hot paths: a translation that hits the IOTLB, a full
/// 4-level walk (IOTLB and PDE cache too small to help), and a raw read of
/// simulated memory beside a plain array read as the floor.
/// </summary>
[MemoryDiagnoser]
public class PlatformBenchmarks
{
    private const ushort Device = 1;
    private const ulong HitIova = 0x12_3456_7000;
    private const ulong WalkIovaA = 0x0000_4000_0000;
    private const ulong WalkIovaB = 0x8000_4000_0000;

    private AmdIommu _hitIommu = null!;
    private AmdIommu _walkIommu = null!;
    private PhysicalMemory _memory = null!;
    private ulong[] _array = null!;
    private bool _flip;

    [GlobalSetup]
    public void Setup()
    {
        _hitIommu = Build(new IommuConfig(), [HitIova]);
        _hitIommu.Translate(Device, HitIova, false);
        // One line each: alternating two IOVAs in different 512 GiB regions misses every cache but the DTE's.
        _walkIommu = Build(new IommuConfig { IotlbSets = 1, IotlbWays = 1, PdeCacheSets = 1, PdeCacheWays = 1 }, [WalkIovaA, WalkIovaB]);
        _memory = new PhysicalMemory();
        _memory.WriteU64(0x1234_5678, 42);
        _array = new ulong[512];
        _array[15] = 42;
    }

    private static AmdIommu Build(IommuConfig config, ulong[] iovas)
    {
        var machine = new Machine(new MachineConfig { Monitors = false, Iommu = config });
        var mem = machine.Memory;
        const ulong devTab = 0x100_0000, root = 0x200_0000;
        ulong next = root + 0x1000;
        var mmio = machine.Mmio;
        mmio.Write64(Machine.IommuMmioBase + AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(devTab).WithSize(511).Raw);
        mmio.Write64(Machine.IommuMmioBase + AmdIommuMmio.ControlOffset, new ControlRegister(0).WithIommuEn(true).Raw);
        var dte = default(AmdDte).WithValid(true).WithTranslationValid(true).WithMode(PagingMode.Level4)
            .WithHostPageTableRoot(root).WithDomainId(1).WithIoRead(true).WithIoWrite(true);
        for (int i = 0; i < AmdDte.Words; i++)
            mem.WriteU64(devTab + Device * 32UL + (ulong)i * 8, dte.GetWord(i));
        foreach (var iova in iovas)
        {
            ulong table = root;
            for (int level = 4; level > 1; level--)
            {
                ulong slot = table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
                var pde = new AmdV1Pte(mem.ReadU64(slot));
                if (!pde.Present)
                {
                    pde = new AmdV1Pte(0).WithPresent(true).WithNextLevel((byte)(level - 1)).WithAddress(next).WithIoRead(true).WithIoWrite(true);
                    next += 0x1000;
                    mem.WriteU64(slot, pde.Raw);
                }
                table = pde.Address;
            }
            var leaf = new AmdV1Pte(0).WithPresent(true).WithAddress(0x9000_0000).WithIoRead(true).WithIoWrite(true);
            mem.WriteU64(table + ((iova >> 12) & 511) * 8, leaf.Raw);
        }
        return machine.Iommu;
    }

    [Benchmark]
    public ulong IotlbHit() => _hitIommu.Translate(Device, HitIova | 0x18, false).Spa;

    [Benchmark]
    public ulong FourLevelWalk()
    {
        _flip = !_flip;
        return _walkIommu.Translate(Device, _flip ? WalkIovaA : WalkIovaB, false).Spa;
    }

    [Benchmark]
    public ulong MemoryRead() => _memory.ReadU64(0x1234_5678);

    [Benchmark(Baseline = true)]
    public ulong ArrayRead() => _array[15];
}
