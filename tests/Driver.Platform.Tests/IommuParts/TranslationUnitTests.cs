using Driver.Hw.AmdIommu;
using Driver.Platform.Iommu;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>The translation unit on its own: the walk, its three caches, and which invalidation drops what.</summary>
public class TranslationUnitTests
{
    private const ulong DevTab = 0x10_0000;
    private const ulong Root = 0x20_0000;
    private const ushort Dev = 3;
    private const ushort Domain = 9;

    private static PartsRig Rig(IommuConfig? config = null)
    {
        var rig = new PartsRig(config: config);
        rig.Translation.DeviceTable = new DeviceTableBaseRegister(0).WithBase(DevTab).WithSize(0);
        rig.Translation.Enabled = true;
        var dte = DeviceRig.Dte(Root, PagingMode.Level2, Domain);
        for (int i = 0; i < AmdDte.Words; i++)
            rig.Memory.WriteU64(DevTab + (Dev * 32UL) + ((ulong)i * 8), dte.GetWord(i));
        rig.Memory.WriteU64(Root, DeviceRig.Pte(Root + 0x1000, 1).Raw);
        rig.Memory.WriteU64(Root + 0x1000 + 8, DeviceRig.Pte(0x7000, 0).Raw);
        return rig;
    }

    [Fact]
    public void Disabled_it_passes_everything_through()
    {
        var rig = Rig();
        rig.Translation.Enabled = false;
        var r = rig.Translation.Translate(Dev, 0x1234, write: true);
        r.ShouldBe(TranslationResult.Allowed(0x1234, 12, false, 0));
        rig.Translation.IotlbCount.ShouldBe(0);
    }

    [Fact]
    public void A_walk_costs_the_dte_and_two_table_reads_and_fills_both_caches()
    {
        var rig = Rig();
        var r = rig.Translation.Translate(Dev, 0x1008, write: false);
        r.ShouldBe(TranslationResult.Allowed(0x7008, 12, false, 3 * rig.Costs.IommuMemoryAccessNs));
        rig.Translation.IotlbCount.ShouldBe(1);
        rig.Translation.PdeCacheCount.ShouldBe(1);
        rig.Translation.Translate(Dev, 0x1010, write: true).ShouldBe(TranslationResult.Allowed(0x7010, 12, true, 0));
    }

    [Fact]
    public void A_cached_directory_entry_is_walked_instead_of_memory_even_in_the_first_line()
    {
        // One line: the entry sits at index 0 of the cache.
        var rig = Rig(new IommuConfig { PdeCacheSets = 1, PdeCacheWays = 1 });
        rig.Translation.Translate(Dev, 0x1000, write: false).IsOk.ShouldBeTrue();
        rig.Translation.InvalidatePages(Domain, InvalidationRange.All, pde: false);
        rig.Memory.WriteU64(Root, 0);
        rig.Translation.Translate(Dev, 0x1008, write: false)
            .ShouldBe(TranslationResult.Allowed(0x7008, 12, false, rig.Costs.IommuMemoryAccessNs), "one read: the leaf table, through the stale directory entry");
    }

    [Fact]
    public void A_cached_directory_entry_keeps_the_permissions_it_was_walked_with()
    {
        var rig = Rig(new IommuConfig { PdeCacheSets = 1, PdeCacheWays = 1 });
        rig.Memory.WriteU64(Root, DeviceRig.Pte(Root + 0x1000, 1, read: false).Raw);
        rig.Translation.Translate(Dev, 0x1000, write: true).IsOk.ShouldBeTrue();
        rig.Translation.InvalidatePages(Domain, InvalidationRange.All, pde: false);
        rig.Memory.WriteU64(Root, DeviceRig.Pte(Root + 0x1000, 1).Raw);
        rig.Translation.Translate(Dev, 0x1000, write: false).Status.ShouldBe(TranslationStatus.IoPageFault, "the cached entry still denies reads");
        rig.Translation.InvalidatePages(Domain, InvalidationRange.All, pde: true);
        rig.Translation.Translate(Dev, 0x1000, write: false).IsOk.ShouldBeTrue();
    }

    [Fact]
    public void Page_invalidation_drops_its_domain_only_and_the_pde_cache_only_with_the_pde_bit()
    {
        var rig = Rig();
        rig.Translation.Translate(Dev, 0x1000, write: false).IsOk.ShouldBeTrue();
        rig.Translation.InvalidatePages(Domain + 1, InvalidationRange.All, pde: true);
        rig.Translation.IotlbCount.ShouldBe(1);
        rig.Translation.PdeCacheCount.ShouldBe(1);
        rig.Translation.InvalidatePages(Domain, InvalidationRange.Decode(0x1000, false), pde: false);
        rig.Translation.IotlbCount.ShouldBe(0);
        rig.Translation.PdeCacheCount.ShouldBe(1);
        rig.Translation.InvalidatePages(Domain, InvalidationRange.Decode(0x1000, false), pde: true);
        rig.Translation.PdeCacheCount.ShouldBe(0);
    }

    [Fact]
    public void A_cached_dte_outlives_the_memory_until_its_invalidation()
    {
        var rig = Rig();
        rig.Translation.Translate(Dev, 0x1000, write: false).IsOk.ShouldBeTrue();
        rig.Memory.WriteU64(DevTab + (Dev * 32UL), DeviceRig.Dte(Root, PagingMode.Level2, Domain).WithTranslationValid(false).GetWord(0));
        rig.Translation.Translate(Dev, 0x1000, write: false).IsOk.ShouldBeTrue("the DTE cache still holds the old entry");
        rig.Translation.InvalidateDte(Dev);
        rig.Translation.Translate(Dev, 0x1000, write: false).Status.ShouldBe(TranslationStatus.Blocked);
        rig.Translation.InvalidateAll();
        rig.Translation.IotlbCount.ShouldBe(0);
        rig.Translation.PdeCacheCount.ShouldBe(0);
    }

    [Fact]
    public void An_rmp_change_drops_the_translations_into_its_range()
    {
        var rig = Rig();
        rig.Translation.Translate(Dev, 0x1000, write: false).IsOk.ShouldBeTrue();
        rig.Translation.InvalidateSpa(0x8000, 0x8FFF);
        rig.Translation.IotlbCount.ShouldBe(1);
        rig.Translation.InvalidateSpa(0x7FFF, 0x7FFF);
        rig.Translation.IotlbCount.ShouldBe(0);
    }

    [Fact]
    public void A_failure_is_an_event_in_the_log_and_in_the_result()
    {
        var rig = Rig();
        rig.EventLog.Base = new EventLogBaseRegister(0).WithBase(0x40_0000).WithLength(8);
        rig.EventLog.Control(true, true, false);
        var r = rig.Translation.Translate(Dev, 0x3000, write: true);
        r.Status.ShouldBe(TranslationStatus.IoPageFault);
        rig.Memory.ReadU64(0x40_0000).ShouldBe(r.EventWord0);
        rig.Memory.ReadU64(0x40_0008).ShouldBe(r.EventWord1);
        new IoPageFaultDetailEvent([r.EventWord0, r.EventWord1]).DomainOrPasid.ShouldBe(Domain);
    }
}
