using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Driver.Platform.Iommu;
using Driver.Platform.Memory;

using static Driver.Benchmarks.TranslatingMachine;

namespace Driver.Benchmarks;

/// <summary>
/// The IOMMU model's hot paths: a translation that hits the IOTLB, a full
/// 4-level walk (IOTLB and PDE cache too small to help), and raw reads of
/// simulated memory beside plain array reads of the same pattern as the floor;
/// and a page table filled by 512 stores, kept as a run of words beside the same
/// table stored byte for byte (the memory's own floor).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class PlatformBenchmarks
{
    // Reads per invocation: one read is too short to time, and a loop over addresses
    // from an array keeps the JIT from folding the lookup of a constant address.
    private const int Reads = 64;


    private AmdIommu _hitIommu = null!;
    private AmdIommu _walkIommu = null!;
    private PhysicalMemory _memory = null!;
    private ulong[] _array = null!;
    private int[] _arrayIndexes = null!;
    private ulong[] _sameFrame = null!;
    private ulong[] _scattered = null!;
    private bool _flip;
    private PhysicalMemory _runMemory = null!;
    private PhysicalMemory _wholeMemory = null!;
    private ulong[] _inRun = null!;

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
        _runMemory = new PhysicalMemory();
        _wholeMemory = new PhysicalMemory(linearFrames: false);
        FillTable(_runMemory);
        FillTable(_wholeMemory);
        _inRun = _sameFrame.Select(pa => TablePa + (pa & 0xFF8)).ToArray();
    }

    private static AmdIommu Build(IommuConfig config, ulong[] iovas) => BuildMachine(config, iovas).Iommu;

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

    [Benchmark(OperationsPerInvoke = Reads), BenchmarkCategory("Read")]
    public ulong MemoryReadRunFrame() => SumOfReads(_inRun, _runMemory);

    [Benchmark(Baseline = true), BenchmarkCategory("FillTable")]
    public ulong FillTableWhole() => FillTable(_wholeMemory);

    [Benchmark, BenchmarkCategory("FillTable")]
    public ulong FillTableRun() => FillTable(_runMemory);

    private const ulong TablePa = 0x2_0000_0000;

    // What a 4K map of 2 MiB in address order does to a fresh leaf table: the allocator zeroes it, then 512 stores.
    private static ulong FillTable(PhysicalMemory memory)
    {
        memory.Fill(TablePa, PhysicalMemory.FrameSize, 0);
        for (ulong i = 0; i < 512; i++)
            memory.WriteU64(TablePa + (i * 8), 0x6000_0040_0000_0001 + (i << 12));
        return memory.ReadU64(TablePa + (511 * 8));
    }

    private ulong SumOfReads(ulong[] addresses) => SumOfReads(addresses, _memory);

    private static ulong SumOfReads(ulong[] addresses, PhysicalMemory memory)
    {
        ulong sum = 0;
        foreach (ulong pa in addresses)
            sum += memory.ReadU64(pa);
        return sum;
    }
}
