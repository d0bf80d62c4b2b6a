using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

/// <summary>What the page table prints (event ids 1100-1199), and that its hot paths print nothing.</summary>
public sealed class LoggingTests
{
    private const ulong ZoneBase = 0x10_0000_0000;
    private const ulong Oa = 0x40_0000_0000;
    private const ulong K4 = 4096;
    private const ulong G1 = 1UL << 30;

    private sealed class Rig
    {
        public Rig(PtConfig config, ulong zoneSize = 64UL << 20)
        {
            Allocator = new FrameAllocator(Memory, ZoneBase, zoneSize, Logs);
            IommuPageTable<AmdV1Format>.Init(config, Memory, Allocator, Driver, out var table, Logs).ShouldBe(Errno.Ok);
            Table = table!;
        }

        public PhysicalMemory Memory { get; } = new();

        public CapturedLogs Logs { get; } = new();

        public FrameAllocator Allocator { get; }

        public RecordingDriver Driver { get; } = new();

        public IommuPageTable<AmdV1Format> Table { get; }
    }

    /// <summary>An allocator that, on the next allocation, lets "another thread" install a table first.</summary>
    private sealed class RacingAllocator(FrameAllocator inner) : IFrameAllocator
    {
        public Action? BeforeNextAlloc { get; set; }

        public long FramesInUse => inner.FramesInUse;

        public bool TryAlloc(out ulong pa)
        {
            var race = BeforeNextAlloc;
            BeforeNextAlloc = null;
            race?.Invoke();
            return inner.TryAlloc(out pa);
        }

        public bool TryAllocContiguous(int frames, out ulong pa) => inner.TryAllocContiguous(frames, out pa);

        public void Free(ulong pa) => inner.Free(pa);
    }

    [Fact]
    public void TopGrowth_IsInformation_WithBothLevelsAndTheNewTop()
    {
        var rig = new Rig(new PtConfig { TopLevel = 0, DynamicTop = true });
        rig.Table.MapPages(1UL << 40, Oa, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        var record = rig.Logs.Single(1100, LogLevel.Information);
        record.GetStructuredStateValue("OldLevel").ShouldBe("0");
        record.GetStructuredStateValue("NewLevel").ShouldBe(CapturedLogs.Value(rig.Table.TopLevel));
        record.GetStructuredStateValue("TopPa").ShouldBe(CapturedLogs.Value(rig.Table.TopPa));
    }

    [Fact]
    public void MapOutOfMemory_IsAWarning_WithTheRange_AndTheAllocatorSaysSoToo()
    {
        // The top table and nothing else.
        var rig = new Rig(new PtConfig { TopLevel = 2 }, zoneSize: K4);
        rig.Table.MapPages(G1, Oa, K4, 4, IommuProt.Read, out _).ShouldBe(Errno.ENOMEM);
        var record = rig.Logs.Single(1101, LogLevel.Warning);
        record.GetStructuredStateValue("Iova").ShouldBe(CapturedLogs.Value(G1));
        record.GetStructuredStateValue("Length").ShouldBe(CapturedLogs.Value(4 * K4));
        var zone = rig.Logs.Single(1000, LogLevel.Warning);
        zone.GetStructuredStateValue("BasePa").ShouldBe(CapturedLogs.Value(ZoneBase));
        zone.GetStructuredStateValue("FrameCount").ShouldBe("1");
    }

    [Fact]
    public void GrowthOutOfMemory_IsAWarning_WithTheLevelItCouldNotLeave()
    {
        var rig = new Rig(new PtConfig { TopLevel = 0, DynamicTop = true }, zoneSize: 3 * K4);
        rig.Table.MapPages(1UL << 40, Oa, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.ENOMEM);
        var record = rig.Logs.Single(1103, LogLevel.Warning);
        record.GetStructuredStateValue("Level").ShouldBe("2");
        record.GetStructuredStateValue("Iova").ShouldBe(CapturedLogs.Value(1UL << 40));
        rig.Logs.All.ShouldNotContain(r => r.Id.Id == 1100);
    }

    [Fact]
    public void InitOutOfMemory_IsAWarning()
    {
        var memory = new PhysicalMemory();
        var logs = new CapturedLogs();
        var allocator = new FrameAllocator(memory, ZoneBase, K4);
        allocator.TryAlloc(out _).ShouldBeTrue();
        IommuPageTable<AmdV1Format>.Init(new PtConfig { TopLevel = 2 }, memory, allocator, new RecordingDriver(), out var table, logs)
            .ShouldBe(Errno.ENOMEM);
        table.ShouldBeNull();
        logs.Single(1102, LogLevel.Warning);
    }

    [Fact]
    public void CutOutOfMemory_IsAWarning_WithTheCutAndTheEntry()
    {
        var rig = new Rig(new PtConfig { TopLevel = 3 }, zoneSize: 3 * K4);
        // Top, level 2 and level 1 tables use the zone up: the 2 MiB leaf cannot be split.
        rig.Table.MapPages(G1, Oa, 2UL << 20, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        rig.Table.Cut(G1 + K4).ShouldBe(Errno.ENOMEM);
        var record = rig.Logs.Single(1104, LogLevel.Warning);
        record.GetStructuredStateValue("Iova").ShouldBe(CapturedLogs.Value(G1 + K4));
        record.GetStructuredStateValue("EntryVa").ShouldBe(CapturedLogs.Value(G1));
        record.GetStructuredStateValue("SizeLg2").ShouldBe("21");
    }

    [Fact]
    public void OutsideAFixedTop_IsDebug_WithTheRange()
    {
        var rig = new Rig(new PtConfig { TopLevel = 2 });
        rig.Table.MapPages(1UL << 39, Oa, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        var record = rig.Logs.Single(1106, LogLevel.Debug);
        record.GetStructuredStateValue("Iova").ShouldBe(CapturedLogs.Value(1UL << 39));
        record.GetStructuredStateValue("Last").ShouldBe(CapturedLogs.Value((1UL << 39) + K4 - 1));
    }

    [Fact]
    public void ALostInstall_IsCounted_Traced_AndItsFrameFreed()
    {
        var memory = new PhysicalMemory();
        var logs = new CapturedLogs();
        var zone = new FrameAllocator(memory, ZoneBase, 64UL << 20);
        var allocator = new RacingAllocator(zone);
        IommuPageTable<AmdV1Format>.Init(new PtConfig { TopLevel = 1 }, memory, allocator, new RecordingDriver(), out var t, logs)
            .ShouldBe(Errno.Ok);
        var table = t!;
        ulong winner = 0;
        // Between the walk's read of the empty item and its compare-and-swap, someone else installs a leaf table.
        allocator.BeforeNextAlloc = () =>
        {
            zone.TryAlloc(out winner).ShouldBeTrue();
            memory.WriteU64(table.TopPa + ((ulong)PtGeometry.Index(G1 >> 9, 1) * 8), AmdV1Format.MakeTable(winner, 1));
        };
        ulong va = G1 >> 9;
        table.MapPages(va, Oa, K4, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);

        table.LostTableInstalls.ShouldBe(1);
        table.IovaToPhys(va).ShouldBe(Oa);
        TableWalker.LeafItemPa(table, memory, va).ShouldBe(winner + ((ulong)PtGeometry.Index(va, 0) * 8));
        // The top and the winner's table; the loser's frame went straight back.
        zone.FramesInUse.ShouldBe(2);
        zone.TotalFrees.ShouldBe(1);
        var record = logs.Single(1105, LogLevel.Trace);
        record.GetStructuredStateValue("Level").ShouldBe("1");
        zone.IsAllocated(ulong.Parse(record.GetStructuredStateValue("TablePa")!, System.Globalization.CultureInfo.InvariantCulture))
            .ShouldBeFalse();
    }

    [Fact]
    public void MapUnmapAndLookup_PrintNothing_EvenAtTrace()
    {
        var rig = new Rig(new PtConfig { TopLevel = 3 });
        var gather = new IotlbGather();
        rig.Table.MapPages(G1, Oa, K4, 3, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        rig.Table.MapPages(2 * G1, Oa, 2UL << 20, 4, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        rig.Table.IovaToPhys(G1 + K4).ShouldBe(Oa + K4);
        rig.Table.TryLookup(2 * G1, out _).ShouldBeTrue();
        rig.Table.UnmapPages(G1, 2 * K4, gather, out _).ShouldBe(Errno.Ok);
        rig.Table.IotlbSync(gather);
        // One 4 KiB page left, and the 8 MiB run as one sized leaf.
        rig.Table.Dump().Count.ShouldBe(2);
        rig.Logs.All.ShouldBeEmpty();
    }
}
