using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Driver.Platform;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

/// <summary>
/// The AMDv1 tables the library writes, walked by the simulated AMD IOMMU: every IOVA must
/// translate on the device to what IovaToPhys says, with the same page size and permissions,
/// and every hole must fault. The IOMMU is driven as a driver would drive it (DTE, command
/// ring, semaphore), so a flush the library forgets shows up as a stale IOTLB hit.
/// </summary>
public sealed class SimulatedIommuTests
{
    private const ulong ZoneBase = 0x20_0000_0000;
    private const ulong ZoneSize = 64UL << 20;
    private const ulong K4 = 4096;
    private const ulong G1 = 1UL << 30;

    public static TheoryData<int> AmdV1PageSizes()
    {
        var sizes = new TheoryData<int>();
        ulong bitmap = new Rig().Table.PageSizeBitmap;
        for (int lg2 = 0; lg2 < 64; lg2++)
        {
            if ((bitmap & (1UL << lg2)) != 0)
                sizes.Add(lg2);
        }
        return sizes;
    }

    [Theory]
    [MemberData(nameof(AmdV1PageSizes))]
    public void EveryPageSize_TranslatesOnTheIommuAsIovaToPhys(int lg2)
    {
        var rig = new Rig();
        ulong size = 1UL << lg2;
        ulong iova = 3 * size;
        ulong oa = lg2 >= 50 ? size : 5 * size;
        rig.Table.MapPages(iova, oa, size, 1, IommuProt.Read | IommuProt.Write, out ulong mapped).ShouldBe(Errno.Ok);
        mapped.ShouldBe(size);
        rig.Table.TryLookup(iova, out var entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(lg2);

        var random = new Random(lg2);
        var probes = new List<ulong> { iova, iova + 8, iova + (size / 2), iova + size - 1 };
        for (int i = 0; i < 16; i++)
            probes.Add(iova + ((ulong)random.NextInt64() & (size - 1)));
        foreach (ulong probe in probes)
        {
            rig.ExpectSame(probe);
            // A second access is served by the IOTLB, which must agree with the walk.
            rig.ExpectSame(probe);
        }
        rig.ExpectSame(iova - 1);
        rig.ExpectSame(iova + size);
        rig.Dma(iova - 1, write: false).Status.ShouldBe(TranslationStatus.IoPageFault);

        BareTable.Unmap(rig.Table, iova, size).ShouldBe(size);
        foreach (ulong probe in probes)
            rig.Dma(probe, write: false).Status.ShouldBe(TranslationStatus.IoPageFault, $"0x{probe:x} after unmap");
        rig.Finish();
    }

    [Theory]
    [InlineData(IommuProt.Read)]
    [InlineData(IommuProt.Write)]
    [InlineData(IommuProt.Read | IommuProt.Write)]
    public void Permissions_AreWhatTheLeafGrants(IommuProt prot)
    {
        var rig = new Rig();
        rig.Table.MapPages(G1, 2 * G1, 2UL << 20, 2, prot, out _).ShouldBe(Errno.Ok);
        rig.Table.MapPages(3 * G1, 3 * G1, K4, 8, prot, out _).ShouldBe(Errno.Ok);
        foreach (ulong probe in new[] { G1, G1 + (3UL << 20) + 5, 3 * G1, (3 * G1) + (7 * K4) + 0xFFF })
        {
            rig.ExpectSame(probe);
            rig.Dma(probe, write: false).IsOk.ShouldBe(prot.HasFlag(IommuProt.Read));
            rig.Dma(probe, write: true).IsOk.ShouldBe(prot.HasFlag(IommuProt.Write));
        }
        rig.Finish();
    }

    [Fact]
    public void RandomMaps_UnmapsCutsAndMerges_TranslateAlike()
    {
        var rig = new Rig();
        var random = new Random(2026);
        int[] sizes = [12, 13, 16, 21, 22, 30];
        var placed = new List<(ulong Iova, ulong Length)>();
        for (int i = 0; i < 300; i++)
        {
            int lg2 = sizes[random.Next(sizes.Length)];
            ulong size = 1UL << lg2;
            ulong count = (ulong)random.Next(1, 5);
            ulong iova = ((ulong)random.NextInt64(1L << 38) & ~(size - 1)) + (1UL << 38);
            ulong oa = (ulong)random.NextInt64(1L << 40) & ~(size - 1);
            var prot = random.Next(4) == 0 ? IommuProt.Read : IommuProt.Read | IommuProt.Write;
            var err = rig.Table.MapPages(iova, oa, size, count, prot, out ulong mapped);
            err.ShouldBeOneOf(Errno.Ok, Errno.EADDRINUSE);
            if (mapped != 0)
                placed.Add((iova, mapped));
        }
        rig.ExpectSameAround(placed, random);

        // Cut some large entries and merge some back: the device must see no difference.
        foreach (var (iova, length) in placed.Where(p => p.Length >= (2UL << 20)).Take(20))
            rig.Table.Cut(iova + (length / 2) + K4).ShouldBe(Errno.Ok);
        rig.ExpectSameAround(placed, random);
        foreach (var (iova, length) in placed.Where(p => p.Length >= (2UL << 20)).Take(10))
            rig.Table.Merge(iova, length).ShouldBeOneOf(Errno.Ok, Errno.EINVAL);
        rig.ExpectSameAround(placed, random);

        // Unmap half: the entries the device had cached must be gone from its IOTLB as well.
        foreach (var (iova, length) in placed.Where((_, i) => i % 2 == 0))
            BareTable.Unmap(rig.Table, iova, length);
        rig.ExpectSameAround(placed, random);
        rig.Finish();
    }

    [Fact]
    public void Cut_UnderRunningDma_IsHitless()
    {
        // DMA runs at every kernel memory access, so it lands between the stores Cut makes.
        var rig = new Rig();
        const ulong Iova = 4 * G1;
        const ulong Oa = 9 * G1;
        rig.Table.MapPages(Iova, Oa, G1, 1, IommuProt.Read | IommuProt.Write, out _).ShouldBe(Errno.Ok);
        var ops = new List<DmaOp>();
        for (ulong offset = 0; offset < G1; offset += G1 / 64)
        {
            // Each frame read starts with its own physical address, so the record tells where the read landed.
            rig.Machine.Memory.WriteU64(Oa + offset, Oa + offset);
            ops.Add(new DmaOp(Iova + offset, 8, Write: false));
        }
        long start = rig.Machine.Clock.NowNs;
        var agent = rig.Machine.AddDmaAgent(new DmaAgentConfig(Rig.DeviceId, ops)
        {
            StartNs = start,
            IntervalNs = 1,
            Transactions = 64 * ops.Count,
        });

        rig.Table.Cut(Iova + (G1 / 2) + K4).ShouldBe(Errno.Ok);
        rig.Table.TryLookup(Iova + (G1 / 2) + K4, out var cut).ShouldBeTrue();
        cut.SizeLg2.ShouldBe(12);

        // Cut writes two tables of 512 entries: about as many transactions ran between its stores.
        agent.Records.Count(r => r.IssuedNs > start).ShouldBeGreaterThan(1000);
        foreach (var record in agent.Records)
        {
            record.Outcome.ShouldBe(DmaOutcome.Completed, $"DMA at 0x{record.Op.Iova:x}");
            record.FirstWordRead.ShouldBe(Oa + (record.Op.Iova - Iova));
        }
        rig.Finish();
    }

    /// <summary>A machine, the driver that programs its IOMMU, and an AMDv1 table the device walks.</summary>
    private sealed class Rig
    {
        public const ushort DeviceId = 0x10;

        public Rig()
        {
            Machine = new Machine();
            Allocator = new FrameAllocator(Machine.KernelMemory, ZoneBase, ZoneSize);
            Allocator.FrameAllocated += Machine.Notify.TableFrameAllocated;
            Allocator.FrameFreed += Machine.Notify.TableFrameFreed;
            Driver = new AmdIommuDriver(Machine.Mmio, Machine.KernelMemory, Machine.Clock, Allocator,
                new AmdIommuConfig { MmioBase = Machine.IommuMmioBase });
            Driver.Init().ShouldBe(Errno.Ok);
            DriverFrames = Allocator.FramesInUse;
            // As Linux's AMD driver: three levels to start with, growing on demand.
            AmdProtectionDomain.Alloc(Driver, out var domain).ShouldBe(Errno.Ok);
            Domain = domain!;
            Domain.Attach(DeviceId).ShouldBe(Errno.Ok);
        }

        public Machine Machine { get; }

        public AmdIommuDriver Driver { get; }

        public AmdProtectionDomain Domain { get; }

        public FrameAllocator Allocator { get; }

        public IommuPageTable<AmdV1Format> Table => Domain.Table;

        private long DriverFrames { get; }

        /// <summary>A DMA read or write of the device at <paramref name="iova"/>, as the IOMMU sees it.</summary>
        public TranslationResult Dma(ulong iova, bool write) => Machine.Iommu.Translate(DeviceId, iova, write);

        /// <summary>The device and the library agree on <paramref name="iova"/>: address, page size, permissions, or a fault.</summary>
        public void ExpectSame(ulong iova)
        {
            var read = Dma(iova, write: false);
            var write = Dma(iova, write: true);
            if (!Table.TryLookup(iova, out var entry))
            {
                read.Status.ShouldBe(TranslationStatus.IoPageFault, $"read of the hole at 0x{iova:x}");
                write.Status.ShouldBe(TranslationStatus.IoPageFault, $"write to the hole at 0x{iova:x}");
                return;
            }
            ulong expected = Table.IovaToPhys(iova);
            foreach (var (result, allowed) in new[] { (read, entry.Prot.HasFlag(IommuProt.Read)), (write, entry.Prot.HasFlag(IommuProt.Write)) })
            {
                if (!allowed)
                {
                    result.Status.ShouldBe(TranslationStatus.IoPageFault, $"0x{iova:x} without permission");
                    continue;
                }
                result.Status.ShouldBe(TranslationStatus.Ok, $"0x{iova:x}");
                result.Spa.ShouldBe(expected, $"0x{iova:x}");
                result.PageShift.ShouldBe(entry.SizeLg2, $"0x{iova:x}");
            }
        }

        /// <summary>Probes the start, end, a random byte and both neighbours of every range.</summary>
        public void ExpectSameAround(List<(ulong Iova, ulong Length)> ranges, Random random)
        {
            foreach (var (iova, length) in ranges)
            {
                ExpectSame(iova);
                ExpectSame(iova + length - 1);
                ExpectSame(iova + ((ulong)random.NextInt64() % length));
                ExpectSame(iova - 1);
                ExpectSame(iova + length);
            }
        }

        /// <summary>Frees the table and checks that nothing leaked and no monitor fired.</summary>
        public void Finish()
        {
            Machine.Monitor.Violations.ShouldBeEmpty();
            Domain.Detach(DeviceId).ShouldBe(Errno.Ok);
            Domain.Free().ShouldBe(Errno.Ok);
            Allocator.FramesInUse.ShouldBe(DriverFrames, "only the driver's own tables and rings remain");
        }
    }
}
