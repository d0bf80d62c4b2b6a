using Driver.Kernel;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;

namespace Driver.Benchmarks;

/// <summary>
/// The AMDv1 table a benchmark drives. The benchmark is generic over a struct
/// implementing this, so each instantiation calls its table directly: two
/// iommupt versions compare in one run at no dispatch cost to either.
/// </summary>
public interface IIommuPtUnderTest<TSelf>
    where TSelf : struct, IIommuPtUnderTest<TSelf>
{
    static abstract TSelf Create(PhysicalMemory memory, FrameAllocator allocator);

    Errno Map(ulong iova, ulong paddr, ulong pgsize, ulong pgcount);

    ulong Unmap(ulong iova, ulong length);

    void Sync();
}

/// <summary>Today's iommupt (src/Driver.Kernel/IommuPt).</summary>
public readonly struct Now : IIommuPtUnderTest<Now>
{
    private readonly IommuPageTable<AmdV1Format> _table;
    private readonly IotlbGather _gather;

    private Now(IommuPageTable<AmdV1Format> table)
    {
        _table = table;
        _gather = new IotlbGather();
    }

    public static Now Create(PhysicalMemory memory, FrameAllocator allocator)
    {
        var err = IommuPageTable<AmdV1Format>.Init(new PtConfig { TopLevel = 2, DynamicTop = true }, memory, allocator, new NoIommu(), out var table);
        if (err != Errno.Ok)
            throw new InvalidOperationException($"setup failed: {err}");
        return new(table!);
    }

    public Errno Map(ulong iova, ulong paddr, ulong pgsize, ulong pgcount) =>
        _table.MapPages(iova, paddr, pgsize, pgcount, IommuProt.Read | IommuProt.Write, out _);

    public ulong Unmap(ulong iova, ulong length)
    {
        _table.UnmapPages(iova, length, _gather, out ulong unmapped);
        return unmapped;
    }

    public void Sync() => _table.IotlbSync(_gather);

    private sealed class NoIommu : IIommuPtDriver
    {
        public void FlushIotlb(ulong iova, ulong last)
        {
        }

        public void ChangeTop(ulong topPa, int topLevel)
        {
        }
    }
}
