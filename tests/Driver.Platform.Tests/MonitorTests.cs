using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Monitors;

namespace Driver.Platform.Tests;

/// <summary>Each monitor fires on a deliberately broken driver sequence, and stays quiet on the correct one.</summary>
public class MonitorTests
{
    private const ushort Dev = 0x60;
    private const ushort Domain = 6;

    private static (DeviceRig D, ulong Root) Setup(DeviceRig? driver = null)
    {
        var d = driver ?? new DeviceRig().Init();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        return (d, root);
    }

    [Fact]
    public void Dma_to_a_private_page_after_the_iommu_left_snp_mode()
    {
        var (d, root) = Setup(PspMailbox.SnpMachine());
        var m = d.Machine;
        d.Map4K(root, 3, 0x1000, 0x6000_0000);
        m.Cpu.Rmpupdate(0x6000_0000, new RmpUpdateArgs(0x1000, true, false, false, 2)).ShouldBe(RmpUpdateResult.Success);
        d.Dma(Dev, 0x1000).Status.ShouldBe(Iommu.TranslationStatus.RmpFault);
        m.Monitor.Violations.ShouldBeEmpty();

        m.Notify.SetOperation("snp_shutdown with a guest alive");
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
        d.Dma(Dev, 0x1010, write: true).Status.ShouldBe(Iommu.TranslationStatus.Ok);
        var v = m.Monitor.Violations.Single();
        v.Kind.ShouldBe(ViolationKind.PrivatePageReached);
        v.DeviceId.ShouldBe(Dev);
        v.Address.ShouldBe(0x1010UL);
        v.Detail.ShouldBe(0x6000_0010UL);
        v.KernelOperation.ShouldBe("snp_shutdown with a guest alive");
        v.TimeNs.ShouldBe(m.SimClock.NowNs);
        v.ToString().ShouldContain("PrivatePageReached");
        m.Monitor.Operation.ShouldBe("snp_shutdown with a guest alive");
    }

    [Fact]
    public void A_walk_through_a_freed_table()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x1000, 0x9000);
        ulong level2 = new AmdV1Pte(m.Memory.ReadU64(root)).Address;
        d.Dma(Dev, 0x1000);
        m.Notify.TableFrameAllocated(level2);
        // Broken: free the level-2 table while the IOMMU can still reach it (no PDE flush, entry still linked).
        m.Notify.SetOperation("unmap: free table before flush");
        m.Notify.TableFrameFreed(level2);
        // The cached level-3 PDE still leads the walk into the freed level-2 table.
        d.Dma(Dev, 0x20_0000);
        var v = m.Monitor.Violations.ShouldHaveSingleItem();
        v.Kind.ShouldBe(ViolationKind.WalkThroughFreedTable);
        v.Detail.ShouldBe(level2);
        v.Address.ShouldBe(0x20_0000UL);
        v.KernelOperation.ShouldBe("unmap: free table before flush");

        // Reused as a table again: no longer a use after free.
        m.Notify.TableFrameAllocated(level2 + 0x10);
        d.Dma(Dev, 0x40_0000);
        m.Monitor.Violations.Count.ShouldBe(1);
    }

    [Fact]
    public void Dma_to_a_memory_frame_the_kernel_freed_until_it_is_handed_out_again()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x1000, 0x9000);
        d.Dma(Dev, 0x1000, write: true).Status.ShouldBe(Iommu.TranslationStatus.Ok);
        m.Notify.SetOperation("punch hole without telling the IOMMU");
        m.Notify.MemoryFrameFreed(0x9000);
        d.Dma(Dev, 0x1008, write: true).Status.ShouldBe(Iommu.TranslationStatus.Ok);
        var v = m.Monitor.Violations.ShouldHaveSingleItem();
        v.Kind.ShouldBe(ViolationKind.DmaReachedFreedFrame);
        v.Address.ShouldBe(0x1008UL);
        v.Detail.ShouldBe(0x9008UL);
        v.KernelOperation.ShouldBe("punch hole without telling the IOMMU");

        m.Notify.MemoryFrameAllocated(0x9000);
        d.Dma(Dev, 0x1010).Status.ShouldBe(Iommu.TranslationStatus.Ok);
        m.Monitor.Violations.Count.ShouldBe(1);
    }

    [Fact]
    public void A_stale_pde_after_a_flush_without_the_pde_bit()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000);
        ulong level2 = d.AllocTable(), level1 = d.AllocTable();
        d.Mem.WriteU64(level2, DeviceRig.Pte(level1, 1).Raw);
        d.Mem.WriteU64(level1 + 5 * 8, DeviceRig.Pte(0xC000, 0).Raw);
        d.Mem.WriteU64(root, DeviceRig.Pte(level2, 2).Raw);

        d.Dma(Dev, 0x5000);
        m.Monitor.Violations.ShouldBeEmpty("not flushed yet: hardware may use what it cached");

        m.Notify.SetOperation("replace table, flush without PDE");
        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        var v = m.Monitor.Violations.ShouldHaveSingleItem();
        v.Kind.ShouldBe(ViolationKind.StaleTranslationAfterInvalidation);
        v.Detail.ShouldBe(0xA000UL);
        v.KernelOperation.ShouldBe("replace table, flush without PDE");
    }

    [Fact]
    public void A_stale_iotlb_line_after_flushing_the_wrong_domain()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000);
        d.Mem.WriteU64(slot, DeviceRig.Pte(0xB000, 0).Raw);
        d.Submit(DeviceRig.InvalidatePages(Domain + 1, 0x5000));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000);
        m.Monitor.Violations.ShouldBeEmpty("a flush of another domain does not cover it");
        d.Submit(DeviceRig.InvalidateDte(Dev));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL, "the IOTLB is tagged by domain, not refilled by a DTE flush");
        m.Monitor.Violations.ShouldHaveSingleItem().Kind.ShouldBe(ViolationKind.StaleTranslationAfterInvalidation);
    }

    [Fact]
    public void A_stale_dte_after_a_page_flush()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x6000);
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain).WithTranslationValid(false));
        d.Submit(DeviceRig.InvalidateAllPages(Domain));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Status.ShouldBe(Iommu.TranslationStatus.Ok);
        m.Monitor.Violations.ShouldHaveSingleItem().Kind.ShouldBe(ViolationKind.StaleTranslationAfterInvalidation);
    }

    [Theory]
    [InlineData("invalid")]
    [InlineData("passthrough")]
    [InlineData("mode0")]
    [InlineData("reserved")]
    public void A_stale_dte_of_any_kind_after_a_full_flush(string kind)
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x6000);
        var now = kind switch
        {
            "invalid" => default,
            "passthrough" => DeviceRig.Dte(root, PagingMode.Level3, Domain).WithValid(false),
            "mode0" => DeviceRig.Dte(root, PagingMode.Disabled, Domain),
            _ => DeviceRig.Dte(root, (PagingMode)7, Domain),
        };
        d.SetDte(Dev, now);
        d.Submit(DeviceRig.InvalidateAllPages(Domain));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        d.Machine.Monitor.Violations.ShouldHaveSingleItem().Kind.ShouldBe(ViolationKind.StaleTranslationAfterInvalidation);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void A_pde_permission_change_alone_counts_as_disagreement(bool read, bool write)
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000);
        var top = new AmdV1Pte(d.Mem.ReadU64(root));
        d.Mem.WriteU64(root, top.WithIoRead(read).WithIoWrite(write).Raw);
        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000));
        d.RunCommands().ShouldBeTrue();
        d.Machine.Monitor.Violations.ShouldBeEmpty();
        d.Dma(Dev, 0x5000, write: !write).Spa.ShouldBe(0xA000UL);
        d.Machine.Monitor.Violations.ShouldHaveSingleItem().Kind.ShouldBe(ViolationKind.StaleTranslationAfterInvalidation);
    }

    [Fact]
    public void A_pte_change_without_an_invalidation_is_stale_once_a_later_completion_wait_completed()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.AnnounceTables();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        m.Notify.SetOperation("unmap without invalidation");
        d.Mem.WriteU64(slot, 0);
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL, "the IOTLB still holds the old entry");
        m.Monitor.Violations.ShouldBeEmpty("no COMPLETION_WAIT since the change: the IOMMU may still use what it cached");

        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1));
        d.RunCommands().ShouldBeTrue();
        m.Monitor.Violations.ShouldBeEmpty("the wait alone is no DMA");
        d.Dma(Dev, 0x5010, write: true).Spa.ShouldBe(0xA010UL);
        var v = m.Monitor.Violations.ShouldHaveSingleItem();
        v.Kind.ShouldBe(ViolationKind.StaleTranslationAfterCompletionWait);
        v.DeviceId.ShouldBe(Dev);
        v.Address.ShouldBe(0x5010UL);
        v.Detail.ShouldBe(0xA010UL);
        v.KernelOperation.ShouldBe("unmap without invalidation");
    }

    [Fact]
    public void Only_table_words_a_walk_read_are_watched_for_stale_translations()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.AnnounceTables();
        for (ulong page = 0; page < 512; page++)
            d.Map4K(root, 3, 0x20_0000 + (page * 0x1000), 0x10_0000 + (page * 0x1000));
        m.Iommu.WatchedTableWords.ShouldBe(0, "the kernel's writes alone are not recorded");

        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        m.Iommu.WatchedTableWords.ShouldBe(3, "one word per level of the walk");
        d.Dma(Dev, 0x5008).Spa.ShouldBe(0xA008UL);
        m.Iommu.WatchedTableWords.ShouldBe(3, "an IOTLB hit reads no table");

        // A page nothing walked before is changed, the change settled, then walked: fresh, not stale.
        d.Map4K(root, 3, 0x20_0000, 0x30_0000);
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x20_0000).Spa.ShouldBe(0x30_0000UL);
        m.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void A_completion_wait_posted_before_the_change_does_not_settle_it()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.AnnounceTables();
        d.Dma(Dev, 0x5000);
        // Posted (Tail written) before the change, completed after it: it promises nothing about the change.
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1));
        d.Mem.WriteU64(slot, DeviceRig.Pte(0xB000, 0).Raw);
        d.RunCommands().ShouldBeTrue();
        d.Mem.ReadU64(DeviceRig.Semaphore).ShouldBe(1UL);
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        m.Monitor.Violations.ShouldBeEmpty();

        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 2));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        m.Monitor.Violations.ShouldHaveSingleItem().Kind.ShouldBe(ViolationKind.StaleTranslationAfterCompletionWait);
    }

    [Fact]
    public void A_directory_change_without_an_invalidation_is_stale_through_the_pde_cache()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Map4K(root, 3, 0x6000, 0xB000);
        d.Dma(Dev, 0x5000);
        // A new level-2 and level-1 table behind the root entry; 0x6000 is not in the IOTLB.
        ulong level2 = d.AllocTable(), level1 = d.AllocTable();
        d.Mem.WriteU64(level2, DeviceRig.Pte(level1, 1).Raw);
        d.Mem.WriteU64(level1 + (6 * 8), DeviceRig.Pte(0xC000, 0).Raw);
        d.AnnounceTables();
        d.Mem.WriteU64(root, DeviceRig.Pte(level2, 2).Raw);
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1));
        d.RunCommands().ShouldBeTrue();

        d.Dma(Dev, 0x6000).Spa.ShouldBe(0xB000UL, "the walk resumes from the cached PDE into the old level-1 table");
        m.Monitor.Violations.ShouldHaveSingleItem().Kind.ShouldBe(ViolationKind.StaleTranslationAfterCompletionWait);
    }

    [Fact]
    public void A_leaf_read_afresh_below_a_cached_pde_is_never_stale()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        d.Map4K(root, 3, 0x5000, 0xA000);
        ulong slot = d.Map4K(root, 3, 0x6000, 0xB000);
        d.AnnounceTables();
        d.Dma(Dev, 0x5000);
        d.Mem.WriteU64(slot, DeviceRig.Pte(0xC000, 0).Raw);
        d.Submit(DeviceRig.CompletionWait(DeviceRig.Semaphore, 1));
        d.RunCommands().ShouldBeTrue();
        // Not yet settled: the top entry loses write permission after the wait was posted.
        d.Mem.WriteU64(root, new AmdV1Pte(d.Mem.ReadU64(root)).WithIoWrite(false).Raw);
        d.Dma(Dev, 0x6000).Spa.ShouldBe(0xC000UL, "only the directories came from the PDE cache");
        m.Monitor.Violations.ShouldBeEmpty("the settled change is in the leaf, which the walk read afresh");
    }

    [Fact]
    public void The_correct_sequences_raise_nothing()
    {
        var (d, root) = Setup();
        var m = d.Machine;
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.AnnounceTables();
        d.Dma(Dev, 0x5000);
        d.Dma(Dev, 0x5000);
        d.Mem.WriteU64(slot, DeviceRig.Pte(0xB000, 0).Raw);
        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xB000UL);
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xB000UL);
        d.Dma(Dev, 0x6000);
        m.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Violation_text_names_idle_when_the_kernel_said_nothing()
    {
        new Violation(ViolationKind.WalkThroughFreedTable, 5, 1, 0x2000, 0x3000, null).ToString()
            .ShouldBe("WalkThroughFreedTable at 5 ns: device 0x0001, address 0x2000, physical 0x3000, kernel: idle");
    }
}
