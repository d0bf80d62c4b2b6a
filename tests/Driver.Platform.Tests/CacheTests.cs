using Driver.Hw.AmdIommu;
using Driver.Platform.Iommu;

namespace Driver.Platform.Tests;

/// <summary>The caches a driver must flush: IOTLB, PDE cache and DTE cache, driven through the command ring.</summary>
public class CacheTests
{
    private const ushort Dev = 0x20;
    private const ushort Domain = 7;

    private static (DeviceRig D, ulong Root) Setup()
    {
        var d = new DeviceRig(new MachineConfig { Monitors = false }).Init();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        return (d, root);
    }

    [Fact]
    public void A_stale_iotlb_hit_until_invalidate_iommu_pages_then_a_fresh_walk()
    {
        var (d, root) = Setup();
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        d.Mem.WriteU64(slot, DeviceRig.Pte(0xB000, 0).Raw);
        var stale = d.Dma(Dev, 0x5000);
        stale.Spa.ShouldBe(0xA000UL);
        stale.Result.FromIotlb.ShouldBeTrue();
        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000));
        d.RunCommands().ShouldBeTrue();
        var fresh = d.Dma(Dev, 0x5000);
        fresh.Spa.ShouldBe(0xB000UL);
        fresh.Result.FromIotlb.ShouldBeFalse();
    }

    [Fact]
    public void An_unmap_is_only_visible_after_the_flush()
    {
        var (d, root) = Setup();
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.Ok);
        d.Mem.WriteU64(slot, 0);
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.Ok);
        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Theory]
    [InlineData(0x4000UL, false, new[] { 0x4000UL }, new[] { 0x5000UL, 0x3000UL })]
    [InlineData(0x4000UL, true, new[] { 0x4000UL, 0x5000UL }, new[] { 0x3000UL, 0x6000UL })]
    [InlineData(0x5000UL, true, new[] { 0x4000UL, 0x5000UL, 0x6000UL, 0x7000UL }, new[] { 0x3000UL, 0x8000UL })]
    [InlineData(0x7FFF_FFFF_FFFF_F000UL, true, new[] { 0x3000UL, 0x8000UL, 0x1_0000_0000UL }, new ulong[0])]
    public void The_s_bit_encodes_the_range(ulong address, bool size, ulong[] flushed, ulong[] kept)
    {
        var (d, root) = Setup();
        var all = flushed.Concat(kept).ToArray();
        var slots = all.Select(iova => d.Map4K(root, 3, iova, 0x100_0000 + iova)).ToArray();
        foreach (var iova in all)
            d.Dma(Dev, iova).Status.ShouldBe(TranslationStatus.Ok);
        foreach (var slot in slots)
            d.Mem.WriteU64(slot, 0);
        d.Submit(DeviceRig.InvalidatePages(Domain, address, size));
        d.RunCommands().ShouldBeTrue();
        foreach (var iova in flushed)
            d.Dma(Dev, iova).Status.ShouldBe(TranslationStatus.IoPageFault, $"0x{iova:x} flushed");
        foreach (var iova in kept)
            d.Dma(Dev, iova).Status.ShouldBe(TranslationStatus.Ok, $"0x{iova:x} kept");
    }

    [Fact]
    public void Invalidations_honour_the_domain()
    {
        var (d, root) = Setup();
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000);
        d.Mem.WriteU64(slot, 0);
        d.Submit(DeviceRig.InvalidateAllPages(Domain + 1));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.Ok);
        d.Submit(DeviceRig.InvalidateAllPages(Domain));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void Guest_invalidations_leave_host_translations_alone()
    {
        var (d, root) = Setup();
        ulong slot = d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000);
        d.Mem.WriteU64(slot, 0);
        var c = default(InvalidateIommuPagesCommand).WithOpcode(CommandOpcode.InvalidateIommuPages).WithDomainId(Domain)
            .WithAddress(0x7FFF_FFFF_FFFF_F000).WithSize(true).WithPde(true).WithGuestNested(true);
        d.Submit((c.GetWord(0), c.GetWord(1)));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.Ok);
    }

    [Fact]
    public void A_changed_pde_needs_the_pde_bit()
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        // Move the range to a new level-2 table whose leaf points elsewhere.
        ulong level2 = d.AllocTable(), level1 = d.AllocTable();
        d.Mem.WriteU64(level2, DeviceRig.Pte(level1, 1).Raw);
        d.Mem.WriteU64(level1 + 5 * 8, DeviceRig.Pte(0xC000, 0).Raw);
        d.Mem.WriteU64(root, DeviceRig.Pte(level2, 2).Raw);

        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL, "the PDE cache still points at the old tables");
        d.Machine.Iommu.PdeCacheCount.ShouldBeGreaterThan(0);

        d.Submit(DeviceRig.InvalidatePages(Domain, 0x5000, pde: true));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xC000UL);
    }

    [Fact]
    public void A_rewritten_dte_needs_invalidate_devtab_entry()
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        ulong other = d.AllocTable();
        d.Map4K(other, 3, 0x5000, 0xD000);
        d.SetDte(Dev, DeviceRig.Dte(other, PagingMode.Level3, Domain + 1));
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xA000UL);
        d.Submit(DeviceRig.InvalidateDte(Dev));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0xD000UL);
    }

    [Fact]
    public void Invalidate_iommu_all_drops_every_cache()
    {
        var (d, root) = Setup();
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.Dma(Dev, 0x5000);
        d.Machine.Iommu.IotlbCount.ShouldBe(1);
        d.Machine.Iommu.PdeCacheCount.ShouldBe(2);
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain).WithTranslationValid(false));
        d.Submit(DeviceRig.InvalidateIommuAll());
        d.RunCommands().ShouldBeTrue();
        d.Machine.Iommu.IotlbCount.ShouldBe(0);
        d.Machine.Iommu.PdeCacheCount.ShouldBe(0);
        d.Dma(Dev, 0x5000).Status.ShouldBe(TranslationStatus.Blocked);
    }

    [Fact]
    public void Large_pages_are_dropped_by_any_overlapping_invalidation()
    {
        var (d, root) = Setup();
        ulong slot = d.Map(root, 3, 0x20_0000, DeviceRig.Pte(0x40_0000, 0), 2);
        d.Dma(Dev, 0x20_0000).Result.PageShift.ShouldBe(21);
        d.Dma(Dev, 0x3F_F000).Spa.ShouldBe(0x5F_F000UL);
        d.Mem.WriteU64(slot, 0);
        d.Submit(DeviceRig.InvalidatePages(Domain, 0x30_0000));
        d.RunCommands().ShouldBeTrue();
        d.Dma(Dev, 0x20_0000).Status.ShouldBe(TranslationStatus.IoPageFault);
        d.Dma(Dev, 0x3F_F000).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void The_iotlb_has_a_capacity()
    {
        var d = new DeviceRig(new MachineConfig { Monitors = false, Iommu = new IommuConfig { IotlbSets = 2, IotlbWays = 2 } }).Init();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        for (ulong i = 0; i < 16; i++)
        {
            d.Map4K(root, 3, i << 12, 0x10_0000 + (i << 12));
            d.Dma(Dev, i << 12);
        }
        d.Machine.Iommu.IotlbCount.ShouldBe(4);
        d.Dma(Dev, 15 << 12).Result.FromIotlb.ShouldBeTrue();
        d.Dma(Dev, 0).Result.FromIotlb.ShouldBeFalse();
    }

    [Fact]
    public void The_dte_cache_is_direct_mapped_and_evicts()
    {
        var d = new DeviceRig(new MachineConfig { Monitors = false, Iommu = new IommuConfig { DteCacheEntries = 4 } }).Init();
        ulong root = d.AllocTable();
        d.Map4K(root, 3, 0x5000, 0xA000);
        d.SetDte(1, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        d.Dma(1, 0x5000).Status.ShouldBe(TranslationStatus.Ok);
        d.SetDte(1, default);
        d.Dma(1, 0x5000).Spa.ShouldBe(0xA000UL);
        d.Dma(5, 0x5000).Spa.ShouldBe(0x5000UL, "device 5 shares the line and evicts device 1");
        d.Dma(1, 0x5000).Spa.ShouldBe(0x5000UL);
    }
}
