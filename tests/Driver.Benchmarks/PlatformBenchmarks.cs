using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Driver.Hw.AmdIommu;
using Driver.Platform;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;

namespace Driver.Benchmarks;

/// <summary>
/// The IOMMU model's hot paths: a translation that hits the IOTLB, a full
/// 4-level walk (IOTLB and PDE cache too small to help), and raw reads of
/// simulated memory beside plain array reads of the same pattern as the floor.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class PlatformBenchmarks
{
    // Reads per invocation: one read is too short to time, and a loop over addresses
    // from an array keeps the JIT from folding the lookup of a constant address.
    private const int Reads = 64;

    internal const ushort Device = 1;
    internal const ulong LeafSpa = 0x9000_0000;
    internal const ulong HitIova = 0x12_3456_7000;
    internal const ulong WalkIovaA = 0x0000_4000_0000;
    internal const ulong WalkIovaB = 0x8000_4000_0000;

    private AmdIommu _hitIommu = null!;
    private AmdIommu _walkIommu = null!;
    private PhysicalMemory _memory = null!;
    private ulong[] _array = null!;
    private int[] _arrayIndexes = null!;
    private ulong[] _sameFrame = null!;
    private ulong[] _scattered = null!;
    private bool _flip;

    [GlobalSetup]
    public void Setup()
    {
        _hitIommu = Build(new IommuConfig(), [HitIova]);
        _hitIommu.Translate(Device, HitIova, false);
        // One line each: alternating two IOVAs in different 512 GiB regions misses every cache but the DTE's.
        _walkIommu = Build(new IommuConfig { IotlbSets = 1, IotlbWays = 1, PdeCacheSets = 1, PdeCacheWays = 1 }, [WalkIovaA, WalkIovaB]);
        // The same 64 word offsets three ways: in one array, in one simulated frame, and in
        // 64 frames spread over 1 TiB, which defeats the last-frame shortcut and walks the directory.
        var random = new Random(42);
        _memory = new PhysicalMemory();
        _array = new ulong[Reads * 512];
        _arrayIndexes = new int[Reads];
        _sameFrame = new ulong[Reads];
        _scattered = new ulong[Reads];
        for (int i = 0; i < Reads; i++)
        {
            int word = random.Next(512);
            _arrayIndexes[i] = (i * 512) + word;
            _array[_arrayIndexes[i]] = (ulong)i;
            _sameFrame[i] = 0x1234_5000 + ((ulong)word * 8);
            _scattered[i] = ((ulong)random.NextInt64(1L << 28) << 12) + ((ulong)word * 8);
            _memory.WriteU64(_sameFrame[i], (ulong)i);
            _memory.WriteU64(_scattered[i], (ulong)i);
        }
    }

    private static AmdIommu Build(IommuConfig config, ulong[] iovas) => BuildMachine(config, iovas).Iommu;

    /// <summary>
    /// A machine whose IOMMU translates each IOVA for <see cref="Device"/> through a 4-level
    /// table to its own 4K page, <see cref="LeafSpa"/> plus 4K per position in the list.
    /// </summary>
    internal static Machine BuildMachine(IommuConfig config, ulong[] iovas)
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
        for (int n = 0; n < iovas.Length; n++)
        {
            ulong iova = iovas[n];
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
            var leaf = new AmdV1Pte(0).WithPresent(true).WithAddress(LeafSpa + ((ulong)n * 0x1000)).WithIoRead(true).WithIoWrite(true);
            mem.WriteU64(table + ((iova >> 12) & 511) * 8, leaf.Raw);
        }
        return machine;
    }

    [Benchmark, BenchmarkCategory("Translate")]
    public ulong IotlbHit() => _hitIommu.Translate(Device, HitIova | 0x18, false).Spa;

    [Benchmark, BenchmarkCategory("Translate")]
    public ulong FourLevelWalk()
    {
        _flip = !_flip;
        return _walkIommu.Translate(Device, _flip ? WalkIovaA : WalkIovaB, false).Spa;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Reads), BenchmarkCategory("Read")]
    public ulong ArrayRead()
    {
        ulong sum = 0;
        foreach (int index in _arrayIndexes)
            sum += _array[index];
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Reads), BenchmarkCategory("Read")]
    public ulong MemoryReadSameFrame() => SumOfReads(_sameFrame);

    [Benchmark(OperationsPerInvoke = Reads), BenchmarkCategory("Read")]
    public ulong MemoryReadScattered() => SumOfReads(_scattered);

    private ulong SumOfReads(ulong[] addresses)
    {
        ulong sum = 0;
        foreach (ulong pa in addresses)
            sum += _memory.ReadU64(pa);
        return sum;
    }
}
