using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommufd;
using Driver.Platform;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// Dirty tracking end to end on the AMD driver: HWPT_ALLOC with DIRTY_TRACKING, SET_DIRTY_TRACKING
/// (DTE.HAD), device DMA on the machine setting the AMDv1 D bit, GET_DIRTY_BITMAP with and without
/// NO_CLEAR, as a VMM's live migration drives them.
/// </summary>
public partial class IommufdOnAmdTests
{
    private const ushort DirtyDevice = 0x30;
    private const int DirtyPages = 16;
    private const ulong DirtyIova = 0x80_0000;

    private static MachineConfig DirtyMachine(bool hd) => new()
    {
        Iommu = new IommuConfig { Efr = new IommuConfig().Efr.WithHdSup(hd).WithHaSup(hd) },
    };

    private sealed class DirtySetup
    {
        public DirtySetup(bool hugePages = false)
        {
            S = new Setup(DirtyMachine(hd: true));
            Dev = S.Bind(DirtyDevice);
            S.U.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
            Ioas = ioas;
            // The dirty bit is per I/O page: 4K pages give one bit per page (IOMMU_OPTION_HUGE_PAGES 0).
            ulong huge = hugePages ? 1UL : 0UL;
            S.U.Option(Driver.Hw.Iommufd.IommufdOption.HugePages, Driver.Hw.Iommufd.IommufdOptionOp.Set, ioas, ref huge).ShouldBe(Errno.Ok);
            S.U.HwptAlloc(Dev, ioas, HwptAllocFlags.DirtyTracking, out uint hwpt).ShouldBe(Errno.Ok);
            Hwpt = hwpt;
            uint pt = hwpt;
            S.Ctx.DeviceAttach(Dev, ref pt).ShouldBe(Errno.Ok);
            pt.ShouldBe(hwpt);
            Buffer = S.Buffer(DirtyPages * Pg);
            ulong iova = DirtyIova;
            S.U.IoasMap(ioas, Buffer, DirtyPages * Pg, ref iova).ShouldBe(Errno.Ok);
            Bitmap = S.Buffer(Pg);
        }

        public Setup S { get; }

        public uint Dev { get; }

        public uint Ioas { get; }

        public uint Hwpt { get; }

        public ulong Buffer { get; }

        public ulong Bitmap { get; }

        public AmdDte Dte => S.Driver.DeviceTable.Read(DirtyDevice);

        /// <summary>The device's DMA: one 8-byte access per page index, in order.</summary>
        public DmaAgent Dma(bool write, params int[] pages)
        {
            var agent = S.Machine.AddDmaAgent(new DmaAgentConfig(DirtyDevice, [.. pages.Select(p => new DmaOp(DirtyIova + ((ulong)p * Pg), 8, write))])
            {
                StartNs = S.Machine.Clock.NowNs + 100,
                IntervalNs = 100,
                Transactions = pages.Length,
            });
            S.Machine.Clock.Delay(2_000 + (100 * pages.Length));
            agent.Records.ShouldAllBe(r => r.Outcome == DmaOutcome.Completed);
            return agent;
        }

        /// <summary>GET_DIRTY_BITMAP over the whole buffer into a zeroed user bitmap: the page indexes reported dirty.</summary>
        public int[] Dirty(bool noClear = false)
        {
            S.Mm.CopyToUser(Bitmap, new byte[8]).ShouldBe(Errno.Ok);
            S.U.HwptGetDirtyBitmap(Hwpt, DirtyIova, DirtyPages * Pg, Pg, Bitmap, noClear).ShouldBe(Errno.Ok);
            var bytes = new byte[8];
            S.Mm.CopyFromUser(Bitmap, bytes).ShouldBe(Errno.Ok);
            ulong bits = BitConverter.ToUInt64(bytes);
            return [.. Enumerable.Range(0, DirtyPages).Where(i => (bits & (1UL << i)) != 0)];
        }
    }

    [Fact]
    public void Dirty_tracking_on_an_iommu_without_hdsup_is_not_supported()
    {
        var s = new Setup(DirtyMachine(hd: false));
        uint dev = s.Bind(DirtyDevice);
        s.U.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        s.U.HwptAlloc(dev, ioas, HwptAllocFlags.DirtyTracking, out _).ShouldBe(Errno.EOPNOTSUPP);
        uint len = 0;
        s.U.GetHwInfo(dev, 0, ref len, out _, out ulong caps).ShouldBe(Errno.Ok);
        (caps & (ulong)Driver.Hw.Iommufd.HwCapabilities.DirtyTracking).ShouldBe(0UL);
        s.U.HwptAlloc(dev, ioas, HwptAllocFlags.None, out uint plain).ShouldBe(Errno.Ok);
        s.U.HwptSetDirtyTracking(plain, true).ShouldBe(Errno.EOPNOTSUPP, "allocated without dirty tracking: no dirty ops");
        s.Ctx.Close();
    }

    [Fact]
    public void Device_writes_set_the_dirty_bits_the_bitmap_reports_and_clears()
    {
        var d = new DirtySetup();
        uint len = 0;
        d.S.U.GetHwInfo(d.Dev, 0, ref len, out _, out ulong caps).ShouldBe(Errno.Ok);
        (caps & (ulong)Driver.Hw.Iommufd.HwCapabilities.DirtyTracking).ShouldNotBe(0UL);
        d.Dte.HostAccessDirty.ShouldBe((byte)0, "tracking is off until asked for");
        d.Dma(write: true, 0, 1);
        d.Dirty(noClear: true).ShouldBeEmpty("no D bit is set while HAD is off");

        d.S.U.HwptSetDirtyTracking(d.Hwpt, true).ShouldBe(Errno.Ok);
        d.Dte.HostAccessDirty.ShouldBe((byte)3);
        d.Dma(write: true, 1, 3, 5);
        d.Dma(write: false, 7);
        d.Dirty(noClear: true).ShouldBe([1, 3, 5]);
        d.Dirty(noClear: true).ShouldBe([1, 3, 5], "NO_CLEAR leaves the bits for the next read");
        d.Dirty().ShouldBe([1, 3, 5]);
        d.Dirty().ShouldBeEmpty("the read cleared them");

        // The clear flushed the IOTLB: the next write walks and dirties the page again.
        d.Dma(write: true, 3);
        d.Dirty().ShouldBe([3]);
        d.S.Machine.Monitor.Violations.ShouldBeEmpty();
        d.S.Ctx.Close();
        d.S.Pages.TotalPins.ShouldBe(0);
    }

    [Fact]
    public void A_write_after_a_read_of_the_same_page_is_still_seen()
    {
        var d = new DirtySetup();
        d.S.U.HwptSetDirtyTracking(d.Hwpt, true).ShouldBe(Errno.Ok);
        d.Dma(write: false, 9);
        d.Dirty(noClear: true).ShouldBeEmpty();
        // The IOTLB line from the read does not know the page dirty: the write walks to set D.
        var agent = d.Dma(write: true, 9);
        agent.Records.Single().Outcome.ShouldBe(DmaOutcome.Completed);
        d.Dirty().ShouldBe([9]);
    }

    [Fact]
    public void Turning_tracking_off_stops_the_dirty_bits_and_a_clearing_read_is_refused()
    {
        var d = new DirtySetup();
        d.S.U.HwptSetDirtyTracking(d.Hwpt, true).ShouldBe(Errno.Ok);
        d.Dma(write: true, 2);
        d.S.U.HwptSetDirtyTracking(d.Hwpt, false).ShouldBe(Errno.Ok);
        d.Dte.HostAccessDirty.ShouldBe((byte)0);
        d.Dma(write: true, 4);
        d.Dirty(noClear: true).ShouldBe([2], "what was dirtied while tracking stays readable");
        d.S.U.HwptGetDirtyBitmap(d.Hwpt, DirtyIova, DirtyPages * Pg, Pg, d.Bitmap).ShouldBe(Errno.EINVAL, "clearing needs tracking on (amd_iommu_read_and_clear_dirty)");
        d.Dirty(noClear: true).ShouldBe([2], "a refused read clears nothing");
    }

    [Fact]
    public void The_bitmap_granule_and_range_follow_the_request()
    {
        var d = new DirtySetup();
        d.S.U.HwptSetDirtyTracking(d.Hwpt, true).ShouldBe(Errno.Ok);
        d.Dma(write: true, 0, 5, 15);
        // One bit per 16 KiB over the whole buffer: pages 0, 5 and 15 fall in granules 0, 1 and 3.
        d.S.Mm.CopyToUser(d.Bitmap, new byte[8]).ShouldBe(Errno.Ok);
        d.S.U.HwptGetDirtyBitmap(d.Hwpt, DirtyIova, DirtyPages * Pg, 4 * Pg, d.Bitmap, noClear: true).ShouldBe(Errno.Ok);
        var bytes = new byte[1];
        d.S.Mm.CopyFromUser(d.Bitmap, bytes).ShouldBe(Errno.Ok);
        bytes[0].ShouldBe((byte)0b1011);
        d.S.U.HwptGetDirtyBitmap(d.Hwpt, DirtyIova + Pg, Pg, Pg, d.Bitmap).ShouldBe(Errno.Ok);
        d.Dirty(noClear: true).ShouldBe([0, 5, 15], "a read of page 1 alone cleared nothing else");
        d.S.U.HwptGetDirtyBitmap(d.Hwpt, DirtyIova, (DirtyPages + 1) * Pg, Pg, d.Bitmap).ShouldBe(Errno.EINVAL, "a gap after the area");
    }

    [Fact]
    public void With_huge_pages_a_write_dirties_the_whole_io_page_it_lands_in()
    {
        var d = new DirtySetup(hugePages: true);
        d.S.U.HwptSetDirtyTracking(d.Hwpt, true).ShouldBe(Errno.Ok);
        d.Dma(write: true, 6);
        // 64 KiB of contiguous pages mapped as one 64 KiB leaf: iommupt reports every 4K of it.
        d.Dirty().ShouldBe([.. Enumerable.Range(0, DirtyPages)]);
        d.Dirty().ShouldBeEmpty();
    }
}
