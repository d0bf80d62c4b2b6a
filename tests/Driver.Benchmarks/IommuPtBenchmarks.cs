using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Driver.Hw.Interfaces;
using Driver.Kernel;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;

namespace Driver.Benchmarks;

/// <summary>
/// AMDv1 map and unmap as Linux's iommupt series measured them (1 x 4K,
/// 256 x 4K, 256 x 2M, and 256 x 1G), beside the floor (the same number of
/// PTE stores straight into one table of simulated memory) and the old way
/// (one map or unmap call, so one walk from the top, per PTE). Every
/// invocation works on a fresh region whose tables already exist, as in a
/// warm domain; the iteration setup puts the regions back. Generic over the
/// table (<see cref="Now"/> today), so that another adapter compares an older
/// iommupt beside it in one run.
/// </summary>
[Config(typeof(IommuPtBenchmarkConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[GenericTypeArguments(typeof(Now))]
public class IommuPtBenchmarks<TTable>
    where TTable : struct, IIommuPtUnderTest<TTable>
{
    internal const int Invocations = 4096;
    private const ulong K4 = 4096;
    private const ulong M2 = 2UL << 20;
    private const ulong G1 = 1UL << 30;
    private const ulong Oa = 0x40_0000_0000;

    private IPhysicalMemory _memory = null!;
    private TTable _table;
    private ulong _floorTable;
    private ulong _pageSize;
    private ulong _count;
    private ulong _next;

    [GlobalSetup]
    public void GlobalSetup()
    {
        var memory = new PhysicalMemory();
        _memory = memory;
        var allocator = new FrameAllocator(memory, 0x100_0000_0000, 128UL << 20);
        _table = TTable.Create(memory, allocator);
        if (!allocator.TryAlloc(out _floorTable))
            throw new InvalidOperationException("setup failed: no frame for the floor");
    }

    // Region i of the current benchmark starts here: far apart, so that regions share no leaf.
    private ulong Region(ulong index) => (_pageSize * _count * index) + (_pageSize == K4 && _count == 1 ? 0 : G1);

    private void Prepare(ulong pageSize, ulong count, bool mapped)
    {
        _pageSize = pageSize;
        _count = count;
        _next = 0;
        for (ulong i = 0; i < Invocations; i++)
        {
            ulong va = Region(i);
            // Region by region, so that partly covered tables stay for the next iteration.
            _table.Unmap(va, pageSize * count);
            if (mapped)
                _table.Map(va, Oa + va, pageSize, count);
        }
        _table.Sync();
    }

    [IterationSetup(Targets = [nameof(Map_1x4K)])]
    public void EmptyFor1x4K() => Prepare(K4, 1, mapped: false);

    [IterationSetup(Targets = [nameof(Map_256x4K), nameof(Rewalk_Map_256x4K)])]
    public void EmptyFor256x4K() => Prepare(K4, 256, mapped: false);

    [IterationSetup(Targets = [nameof(Map_256x2M), nameof(Rewalk_Map_256x2M)])]
    public void EmptyFor256x2M() => Prepare(M2, 256, mapped: false);

    [IterationSetup(Targets = [nameof(Map_256x1G)])]
    public void EmptyFor256x1G() => Prepare(G1, 256, mapped: false);

    [IterationSetup(Targets = [nameof(Unmap_1x4K)])]
    public void MappedFor1x4K() => Prepare(K4, 1, mapped: true);

    [IterationSetup(Targets = [nameof(Unmap_256x4K), nameof(Rewalk_Unmap_256x4K)])]
    public void MappedFor256x4K() => Prepare(K4, 256, mapped: true);

    [IterationSetup(Targets = [nameof(Unmap_256x2M), nameof(Rewalk_Unmap_256x2M)])]
    public void MappedFor256x2M() => Prepare(M2, 256, mapped: true);

    [IterationSetup(Targets = [nameof(Unmap_256x1G)])]
    public void MappedFor256x1G() => Prepare(G1, 256, mapped: true);

    [IterationCleanup]
    public void Flush() => _table.Sync();

    [Benchmark, BenchmarkCategory("1")]
    public void Floor_1() => _memory.WriteU64(_floorTable + ((_next++ & 511) * 8), Oa | 0x6000_0000_0000_0001);

    [Benchmark, BenchmarkCategory("256")]
    public void Floor_256()
    {
        ulong value = Oa | 0x6000_0000_0000_0001;
        for (ulong i = 0; i < 256; i++)
            _memory.WriteU64(_floorTable + (i * 8), value + (i << 12));
    }

    [Benchmark, BenchmarkCategory("1")]
    public Errno Map_1x4K()
    {
        ulong va = Region(_next++);
        return _table.Map(va, Oa + va, K4, 1);
    }

    [Benchmark, BenchmarkCategory("1")]
    public ulong Unmap_1x4K() => _table.Unmap(Region(_next++), K4);

    [Benchmark, BenchmarkCategory("256")]
    public Errno Map_256x4K() => MapRegion();

    [Benchmark, BenchmarkCategory("256")]
    public Errno Map_256x2M() => MapRegion();

    [Benchmark, BenchmarkCategory("256")]
    public Errno Map_256x1G() => MapRegion();

    [Benchmark, BenchmarkCategory("256")]
    public ulong Unmap_256x4K() => UnmapRegion();

    [Benchmark, BenchmarkCategory("256")]
    public ulong Unmap_256x2M() => UnmapRegion();

    [Benchmark, BenchmarkCategory("256")]
    public ulong Unmap_256x1G() => UnmapRegion();

    [Benchmark, BenchmarkCategory("256")]
    public Errno Rewalk_Map_256x4K() => RewalkMap();

    [Benchmark, BenchmarkCategory("256")]
    public Errno Rewalk_Map_256x2M() => RewalkMap();

    [Benchmark, BenchmarkCategory("256")]
    public ulong Rewalk_Unmap_256x4K() => RewalkUnmap();

    [Benchmark, BenchmarkCategory("256")]
    public ulong Rewalk_Unmap_256x2M() => RewalkUnmap();

    private Errno MapRegion()
    {
        ulong va = Region(_next++);
        return _table.Map(va, Oa + va, _pageSize, _count);
    }

    private ulong UnmapRegion() => _table.Unmap(Region(_next++), _pageSize * _count);

    // The old way: one call, so one walk from the top, per PTE.
    private Errno RewalkMap()
    {
        ulong va = Region(_next++);
        var result = Errno.Ok;
        for (ulong i = 0; i < _count; i++)
        {
            var err = _table.Map(va + (i * _pageSize), Oa + va + (i * _pageSize), _pageSize, 1);
            if (err != Errno.Ok)
                result = err;
        }
        return result;
    }

    private ulong RewalkUnmap()
    {
        ulong va = Region(_next++);
        ulong total = 0;
        for (ulong i = 0; i < _count; i++)
            total += _table.Unmap(va + (i * _pageSize), _pageSize);
        return total;
    }
}
