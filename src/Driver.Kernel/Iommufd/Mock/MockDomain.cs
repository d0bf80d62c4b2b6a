using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;

namespace Driver.Kernel.Iommufd.Mock;

/// <summary>
/// A paging domain of the mock IOMMU (Linux selftest.c's mock_iommu_domain): an iommupt AMDv1
/// table in plain memory that no hardware walks, so flushes only count. A test stands in for
/// the device: <see cref="MarkDirty"/> sets the dirty bit a DMA write would set.
/// </summary>
public sealed class MockDomain : IIommuDomainOps, IIommuPtDriver, IIommuDomainGeometry, IIommuDomainResize
{
    private readonly IPhysicalMemory _memory;
    private readonly MockDomainOptions _options;
    private IommuPageTable<AmdV1Format>? _table;

    private MockDomain(IPhysicalMemory memory, MockDomainOptions options)
    {
        _memory = memory;
        _options = options;
    }

    internal static Errno Alloc(IPhysicalMemory memory, IFrameAllocator frames, MockDomainOptions options, bool dirty, out MockDomain? domain)
    {
        domain = null;
        var created = new MockDomain(memory, options);
        var config = new PtConfig { TopLevel = 2, VaBits = 32, PageSizes = options.PageSizes };
        var err = IommuPageTable<AmdV1Format>.Init(config, memory, frames, created, out created._table);
        if (err != Errno.Ok)
            return err;
        created.DirtyCapable = dirty;
        domain = created;
        return Errno.Ok;
    }

    public IommuPageTable<AmdV1Format> Table => _table ?? throw new ObjectDisposedException(nameof(MockDomain));

    public ulong PageSizeBitmap => Table.PageSizeBitmap;

    public int VaBits => Table.VaBits;

    public ulong ApertureStart => _options.ApertureStart;

    public ulong ApertureEnd => _options.ApertureEnd;

    /// <summary>Whether the domain was allocated with dirty tracking (IOMMU_HWPT_ALLOC_DIRTY_TRACKING or a dirty-capable mock).</summary>
    public bool DirtyCapable { get; private set; }

    public bool DirtyTracking { get; private set; }

    /// <summary>IOTLB flushes the table asked for.</summary>
    public int Flushes { get; private set; }

    public bool IsFreed => _table is null;

    public Errno MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped)
    {
        mapped = 0;
        ulong last = iova + ((pgsize * pgcount) - 1);
        // The mock refuses IOVA outside its aperture, as Linux's mock does.
        if (iova < ApertureStart || last > ApertureEnd || last < iova)
            return Errno.EINVAL;
        return Table.MapPages(iova, paddr, pgsize, pgcount, prot, out mapped);
    }

    public ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount, IotlbGather gather)
    {
        Table.UnmapPages(iova, pgsize * pgcount, gather, out ulong unmapped);
        return unmapped;
    }

    public ulong IovaToPhys(ulong iova) => Table.IovaToPhys(iova);

    public Errno Cut(ulong iova) => Table.Cut(iova);

    public Errno Merge(ulong iova, ulong length) => Table.Merge(iova, length);

    public void IotlbSync(IotlbGather gather) => Table.IotlbSync(gather);

    public Errno FlushIotlbAll()
    {
        Flushes++;
        return Errno.Ok;
    }

    public Errno SetDirtyTracking(bool enabled)
    {
        if (!DirtyCapable)
            return Errno.EOPNOTSUPP;
        DirtyTracking = enabled;
        return Errno.Ok;
    }

    public Errno ReadAndClearDirty(ulong iova, ulong size, DirtyFlags flags, IovaBitmap bitmap)
    {
        if (!DirtyCapable)
            return Errno.EOPNOTSUPP;
        var gather = new IotlbGather();
        var err = Table.ReadAndClearDirty(iova, size, flags, bitmap, gather);
        Table.IotlbSync(gather);
        return err;
    }

    /// <summary>
    /// Sets the dirty bit of the leaf that maps <paramref name="iova"/>, as the IOMMU does on a
    /// DMA write while tracking; false when nothing maps it or tracking is off.
    /// </summary>
    public bool MarkDirty(ulong iova)
    {
        if (!DirtyTracking)
            return false;
        ulong tablePa = Table.TopPa;
        for (int level = Table.TopLevel; level >= 0; level--)
        {
            ulong itemPa = tablePa + (((iova >> (PtGeometry.GranuleLg2 + (9 * level))) & 511) * 8);
            ulong item = _memory.ReadU64(itemPa);
            switch (AmdV1Format.Classify(item, level))
            {
                case PtEntryType.Empty:
                    return false;
                case PtEntryType.Leaf:
                    while ((item & AmdV1Format.DirtyBit) == 0)
                    {
                        ulong seen = _memory.CompareExchangeU64(itemPa, item | AmdV1Format.DirtyBit, item);
                        if (seen == item)
                            break;
                        item = seen;
                    }
                    return true;
                default:
                    tablePa = AmdV1Format.TablePa(item);
                    break;
            }
        }
        return false;
    }

    public Errno Free()
    {
        if (_table is null)
            return Errno.Ok;
        _table.Deinit();
        _table = null;
        return Errno.Ok;
    }

    void IIommuPtDriver.FlushIotlb(ulong iova, ulong last) => Flushes++;

    void IIommuPtDriver.ChangeTop(ulong topPa, int topLevel)
    {
    }
}
