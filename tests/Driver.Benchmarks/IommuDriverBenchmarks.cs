using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Driver.Kernel;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform;

namespace Driver.Benchmarks;

/// <summary>
/// The IOMMU core and the AMD driver on the simulated machine (monitors off): map and unmap of
/// 4K and 2M through the core beside the same calls straight into the domain's iommupt table
/// (the Raw rows, the baseline of each group); 1000 x 4K unmaps through a strict and a lazy
/// domain; and one COMPLETION_WAIT through the ring (post, the IOMMU runs it, the poll).
/// </summary>
[Config(typeof(ShortConfig))]
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class IommuDriverBenchmarks
{
    private const int Invocations = 8192;
    private const ulong K4 = 4096;
    private const ulong M2 = 2UL << 20;
    private const ulong Oa = 0x40_0000_0000;
    private const IommuProt Prot = IommuProt.Read | IommuProt.Write;

    private readonly IotlbGather _gather = new();
    private Machine _machine = null!;
    private AmdIommuDriver _driver = null!;
    private IommuCore _core = null!;
    private IommuDomain _domain = null!;
    private IommuDomain _strict = null!;
    private IommuDomain _lazy = null!;
    private IommuPageTable<AmdV1Format> _table = null!;
    private ulong _start;
    private ulong _next;
    private ulong _unmapped;

    private sealed class ShortConfig : ManualConfig
    {
        public ShortConfig()
        {
            // Fifteen iterations: three (ShortRun's) leave these rows too noisy to compare. A map
            // iteration lasts about 2 ms, so a few warmups still time Tier-0 code (the rows came
            // out bimodal); sixty let tiering settle.
            AddJob(Job.ShortRun.WithWarmupCount(60).WithIterationCount(15).WithInvocationCount(Invocations).WithUnrollFactor(1).WithId("short"));
            AddColumn(StatisticColumn.Min, StatisticColumn.Median);
        }
    }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _machine = new Machine(new MachineConfig { Monitors = false });
        var allocator = new FrameAllocator(_machine.KernelMemory, 0x100_0000_0000, 512UL << 20);
        _driver = new AmdIommuDriver(_machine.Mmio, _machine.KernelMemory, _machine.Clock, allocator,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
        Check(_driver.Init());
        _core = new IommuCore(_driver, _machine.Clock);
        Check(_core.AllocPagingDomain(DomainAllocFlags.None, out var domain));
        _domain = domain!;
        _table = ((AmdProtectionDomain)_domain.Ops!).Table;
        Check(_core.AllocPagingDomain(DomainAllocFlags.None, out var strict, strict: true));
        _strict = strict!;
        Check(_core.AllocPagingDomain(DomainAllocFlags.None, out var lazy, strict: false));
        _lazy = lazy!;
        // Attached devices make the flushes real: each domain has one.
        Check(_core.ProbeDevice(1));
        Check(_core.AttachDevice(_domain, 1));
        Check(_core.ProbeDevice(2));
        Check(_core.AttachDevice(_strict, 2));
        Check(_core.ProbeDevice(3));
        Check(_core.AttachDevice(_lazy, 3));
    }

    private static void Check(Errno err)
    {
        if (err != Errno.Ok)
            throw new InvalidOperationException($"setup failed: {err}");
    }

    // Each iteration maps fresh IOVA; the cleanup takes exactly that down again (tables kept)
    // and fails the run if any call of the iteration did not map its page, so that a row can
    // never time a refused call.
    [IterationSetup(Targets = [nameof(Raw_Map4K), nameof(Core_Map4K)])]
    public void SetupMap4K() => _start = _next = 1UL << 30;

    [IterationSetup(Targets = [nameof(Raw_Map2M), nameof(Core_Map2M)])]
    public void SetupMap2M() => _start = _next = 1UL << 33;

    [IterationCleanup(Targets = [nameof(Raw_Map4K), nameof(Core_Map4K), nameof(Raw_Map2M), nameof(Core_Map2M)])]
    public void CleanupMap() => Expect("unmapped after the map rows", _core.Unmap(_domain, _start, _next - _start), _next - _start);

    [IterationSetup(Targets = [nameof(Raw_Unmap4K), nameof(Core_Unmap4K)])]
    public void SetupUnmap4K() => MapLeaves(_table, 1UL << 30, K4);

    [IterationSetup(Targets = [nameof(Raw_Unmap2M), nameof(Core_Unmap2M)])]
    public void SetupUnmap2M() => MapLeaves(_table, 1UL << 33, M2);

    [IterationCleanup(Targets = [nameof(Raw_Unmap4K), nameof(Core_Unmap4K), nameof(Raw_Unmap2M), nameof(Core_Unmap2M),
        nameof(Strict_Unmap4K), nameof(Lazy_Unmap4K)])]
    public void CleanupUnmap() => Expect("unmapped by the unmap rows", _unmapped, _next - _start);

    // Leaves of exactly `size`, each its own call with a gap in the output address after it, so
    // that iommupt cannot fold a run into one larger leaf (it picks the largest size a contiguous
    // run allows) and each timed unmap removes one leaf of `size`.
    private void MapLeaves(IommuPageTable<AmdV1Format> table, ulong start, ulong size)
    {
        // Whatever an earlier iteration left (the first one runs a single invocation) goes first,
        // leaf by leaf, since an unmap stops at the first hole.
        for (ulong i = 0; i < Invocations; i++)
            table.UnmapPages(start + (i * size), size, _gather, out _);
        table.IotlbSync(_gather);
        for (ulong i = 0; i < Invocations; i++)
        {
            Check(table.MapPages(start + (i * size), Oa + (2 * i * size), size, 1, Prot, out ulong mapped));
            Expect("mapped by the setup", mapped, size);
        }
        _start = _next = start;
        _unmapped = 0;
    }

    private static void Expect(string what, ulong got, ulong want)
    {
        if (got != want)
            throw new InvalidOperationException($"{what}: {got:#x} bytes, expected {want:#x}");
    }

    [Benchmark(Baseline = true), BenchmarkCategory("map 4K")]
    public void Raw_Map4K()
    {
        _table.MapPages(_next, Oa, K4, 1, Prot, out _);
        _next += K4;
    }

    [Benchmark, BenchmarkCategory("map 4K")]
    public void Core_Map4K()
    {
        _core.Map(_domain, _next, Oa, K4, Prot);
        _next += K4;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("map 2M")]
    public void Raw_Map2M()
    {
        _table.MapPages(_next, Oa, M2, 1, Prot, out _);
        _next += M2;
    }

    [Benchmark, BenchmarkCategory("map 2M")]
    public void Core_Map2M()
    {
        _core.Map(_domain, _next, Oa, M2, Prot);
        _next += M2;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("unmap 4K")]
    public void Raw_Unmap4K()
    {
        _table.UnmapPages(_next, K4, _gather, out ulong unmapped);
        _table.IotlbSync(_gather);
        _unmapped += unmapped;
        _next += K4;
    }

    [Benchmark, BenchmarkCategory("unmap 4K")]
    public void Core_Unmap4K()
    {
        _unmapped += _core.Unmap(_domain, _next, K4);
        _next += K4;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("unmap 2M")]
    public void Raw_Unmap2M()
    {
        _table.UnmapPages(_next, M2, _gather, out ulong unmapped);
        _table.IotlbSync(_gather);
        _unmapped += unmapped;
        _next += M2;
    }

    [Benchmark, BenchmarkCategory("unmap 2M")]
    public void Core_Unmap2M()
    {
        _unmapped += _core.Unmap(_domain, _next, M2);
        _next += M2;
    }

    [IterationSetup(Target = nameof(Strict_Unmap4K))]
    public void SetupStrict() => MapFresh(_strict);

    [IterationSetup(Target = nameof(Lazy_Unmap4K))]
    public void SetupLazy() => MapFresh(_lazy);

    private void MapFresh(IommuDomain domain)
    {
        Check(_core.FlushQueue(domain));
        MapLeaves(((AmdProtectionDomain)domain.Ops!).Table, 1UL << 30, K4);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("unmap 4K, strict vs lazy")]
    public void Strict_Unmap4K()
    {
        _unmapped += _core.Unmap(_strict, _next, K4);
        _next += K4;
    }

    [Benchmark, BenchmarkCategory("unmap 4K, strict vs lazy")]
    public void Lazy_Unmap4K()
    {
        _unmapped += _core.Unmap(_lazy, _next, K4);
        _next += K4;
    }

    [Benchmark, BenchmarkCategory("one command")]
    public Errno CompletionWait() => _driver.Commands.CompletionWait();
}
