using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Driver.Kernel;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;

namespace Driver.Benchmarks;

/// <summary>
/// IOAS_MAP then IOAS_UNMAP of 1 GiB of 4K user pages through the ioctl, with one and with two
/// mock domains (plain 4K PTEs), beside iommupt alone writing and clearing the same PTEs (the
/// same frames, in the same contiguous runs) into a table of the same shape.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class IommufdBenchmarks
{
    private const ulong Pg = 4096;
    private const ulong Size = 1UL << 30;
    private const ulong Iova = 1UL << 30;

    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithId("1GiB"));
    }

    private sealed class NoIommu : IIommuPtDriver
    {
        public void FlushIotlb(ulong iova, ulong last)
        {
        }

        public void ChangeTop(ulong topPa, int topLevel)
        {
        }
    }

    private UserAddressSpace _mm = null!;
    private IommufdUtils _one = null!;
    private IommufdUtils _two = null!;
    private uint _ioasOne;
    private uint _ioasTwo;
    private ulong _buffer;
    private IommuPageTable<AmdV1Format> _table = null!;
    private readonly List<(ulong Pfn, ulong Count)> _runs = [];

    [GlobalSetup]
    public void Setup()
    {
        var memory = new PhysicalMemory();
        var userFrames = new FrameAllocator(memory, 0x1_0000_0000, Size + (64UL << 20));
        var pages = new PageCounts(userFrames);
        _mm = new UserAddressSpace(pages, memory);
        Check(_mm.Mmap(Size, out _buffer));
        Check(_mm.Populate(_buffer, Size));
        (_one, _ioasOne) = Context(memory, 1);
        (_two, _ioasTwo) = Context(memory, 2);

        var frames = new FrameAllocator(memory, 0x80_0000_0000, 64UL << 20);
        Check(IommuPageTable<AmdV1Format>.Init(new PtConfig { TopLevel = 2, VaBits = 32, PageSizes = Pg }, memory, frames, new NoIommu(), out var table));
        _table = table!;
        for (ulong off = 0; off < Size; off += Pg)
        {
            _mm.TryTranslate(_buffer + off, out ulong pfn);
            if (_runs.Count > 0 && _runs[^1].Pfn + _runs[^1].Count == pfn)
                _runs[^1] = (_runs[^1].Pfn, _runs[^1].Count + 1);
            else
                _runs.Add((pfn, 1));
        }
    }

    private (IommufdUtils, uint) Context(PhysicalMemory memory, int domains)
    {
        var tables = new FrameAllocator(memory, 0x40_0000_0000 + ((ulong)domains << 32), 64UL << 20);
        var driver = new MockIommuDriver(memory, tables, MockDomainOptions.Plain);
        var core = new IommuCore(driver, new MockClock(), new IommuCoreConfig { Strict = true, Passthrough = true });
        var ctx = new IommufdSubsystem(core, memory).Open();
        var utils = new IommufdUtils(new IommufdFile(ctx, _mm, new FdTable()));
        Check(utils.IoasAlloc(out uint ioas));
        for (int i = 0; i < domains; i++)
        {
            ushort device = (ushort)(0x10 + i);
            driver.AddDevice(device);
            Check(core.ProbeDevice(device));
            Check(ctx.DeviceBind(device, out uint dev));
            // A second device on the IOAS would share the automatic domain: give it a domain of its own.
            uint pt = ioas;
            if (i > 0)
                Check(utils.HwptAlloc(dev, ioas, HwptAllocFlags.None, out pt));
            Check(ctx.DeviceAttach(dev, ref pt));
        }
        return (utils, ioas);
    }

    private static void Check(Errno err)
    {
        if (err != Errno.Ok)
            throw new InvalidOperationException($"setup failed: {err}");
    }

    [Benchmark(Baseline = true)]
    public ulong IommuPtAlone()
    {
        ulong iova = Iova;
        foreach (var (pfn, count) in _runs)
        {
            Check(_table.MapPages(iova, pfn * Pg, Pg, count, IommuProt.Read | IommuProt.Write, out _));
            iova += count * Pg;
        }
        var gather = new IotlbGather();
        _table.UnmapPages(Iova, Size, gather, out ulong unmapped);
        _table.IotlbSync(gather);
        return unmapped;
    }

    [Benchmark]
    public ulong IommufdOneDomain() => MapUnmap(_one, _ioasOne);

    [Benchmark]
    public ulong IommufdTwoDomains() => MapUnmap(_two, _ioasTwo);

    private ulong MapUnmap(IommufdUtils utils, uint ioas)
    {
        ulong iova = Iova;
        Check(utils.IoasMap(ioas, _buffer, Size, ref iova));
        Check(utils.IoasUnmap(ioas, Iova, Size, out ulong unmapped));
        return unmapped;
    }
}
