using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Shouldly;

namespace Driver.Kernel.Tests.Support;

/// <summary>A page table on real simulated memory, with a frame zone of its own.</summary>
internal sealed class PtFixture<TFormat>
    where TFormat : struct, IPtFormat
{
    public const ulong ZoneBase = 0x10_0000_0000;
    public const ulong ZoneSize = 256UL << 20;

    public PtFixture(PtConfig config, IPhysicalMemory? memory = null, ulong zoneSize = ZoneSize)
    {
        Memory = memory ?? new PhysicalMemory();
        Allocator = new FrameAllocator(Memory, ZoneBase, zoneSize);
        Driver = new RecordingDriver();
        IommuPageTable<TFormat>.Init(config, Memory, Allocator, Driver, out var table).ShouldBe(Errno.Ok);
        Table = table!;
    }

    public IPhysicalMemory Memory { get; }

    public FrameAllocator Allocator { get; }

    public RecordingDriver Driver { get; }

    public IommuPageTable<TFormat> Table { get; }

    public void Map(ulong iova, ulong oa, ulong length, IommuProt prot = IommuProt.Read | IommuProt.Write)
    {
        BareTable.Map(Table, iova, oa, length, prot).ShouldBe(Errno.Ok);
    }

    public ulong Unmap(ulong iova, ulong length) => BareTable.Unmap(Table, iova, length);

    /// <summary>Number of entries per page size, as kunit's count_valids.</summary>
    public Dictionary<int, int> CountBySize() =>
        Table.Dump().GroupBy(e => e.SizeLg2).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Deinit must give every frame back.</summary>
    public void DeinitAndCheckNoLeak()
    {
        Table.Deinit();
        Allocator.FramesInUse.ShouldBe(0);
    }
}
