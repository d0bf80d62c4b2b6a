using Driver.Hw.AmdIommu;
using Driver.Platform.Iommu;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>
/// Host access and dirty bits: with DTE.HAD and the EFR's HASup/HDSup the IOMMU sets A on an allowed
/// request and D on a write in the leaf PTE; the IOTLB remembers whether the leaf is dirty, so a write
/// through a line filled by a read walks again.
/// </summary>
public class AccessDirtyTests
{
    private const ulong DevTab = 0x10_0000;
    private const ulong Root = 0x20_0000;
    private const ulong Leaves = Root + 0x1000;
    private const ushort Dev = 3;
    private const ushort Domain = 9;

    private static readonly ExtendedFeatureRegister Both = new IommuConfig().Efr.WithHaSup(true).WithHdSup(true);

    private static PartsRig Rig(byte had = 3, ExtendedFeatureRegister? efr = null)
    {
        var rig = new PartsRig(config: new IommuConfig { Efr = efr ?? Both });
        rig.Translation.DeviceTable = new DeviceTableBaseRegister(0).WithBase(DevTab).WithSize(0);
        rig.Translation.Enabled = true;
        var dte = DeviceRig.Dte(Root, PagingMode.Level2, Domain).WithHostAccessDirty(had);
        for (int i = 0; i < AmdDte.Words; i++)
            rig.Memory.WriteU64(DevTab + (Dev * 32UL) + ((ulong)i * 8), dte.GetWord(i));
        rig.Memory.WriteU64(Root, DeviceRig.Pte(Leaves, 1).Raw);
        for (ulong i = 0; i < 4; i++)
            rig.Memory.WriteU64(Leaves + (i * 8), DeviceRig.Pte(0x7000 + (i << 12), 0).Raw);
        return rig;
    }

    private static AmdV1Pte Leaf(PartsRig rig, ulong index) => new(rig.Memory.ReadU64(Leaves + (index * 8)));

    [Fact]
    public void A_write_sets_accessed_and_dirty_and_costs_one_more_memory_access()
    {
        var rig = Rig();
        var r = rig.Translation.Translate(Dev, 0x1008, write: true);
        r.ShouldBe(TranslationResult.Allowed(0x8008, 12, false, 4 * rig.Costs.IommuMemoryAccessNs));
        Leaf(rig, 1).Accessed.ShouldBeTrue();
        Leaf(rig, 1).Dirty.ShouldBeTrue();
        Leaf(rig, 0).Raw.ShouldBe(DeviceRig.Pte(0x7000, 0).Raw, "only the entry the IOVA indexes");
        rig.Translation.Translate(Dev, 0x1010, write: true).ShouldBe(TranslationResult.Allowed(0x8010, 12, true, 0), "a dirty line serves writes");
    }

    [Fact]
    public void A_read_sets_accessed_only()
    {
        var rig = Rig();
        rig.Translation.Translate(Dev, 0x2000, write: false).IsOk.ShouldBeTrue();
        Leaf(rig, 2).Accessed.ShouldBeTrue();
        Leaf(rig, 2).Dirty.ShouldBeFalse();
        rig.Translation.Translate(Dev, 0x2000, write: false).FromIotlb.ShouldBeTrue();
    }

    [Fact]
    public void A_write_through_a_line_a_read_filled_walks_again_and_sets_dirty()
    {
        var rig = Rig();
        rig.Translation.Translate(Dev, 0x3000, write: false).IsOk.ShouldBeTrue();
        var w = rig.Translation.Translate(Dev, 0x3004, write: true);
        w.FromIotlb.ShouldBeFalse();
        w.Spa.ShouldBe(0xA004UL);
        Leaf(rig, 3).Dirty.ShouldBeTrue();
        rig.Translation.Translate(Dev, 0x3008, write: true).FromIotlb.ShouldBeTrue();
    }

    [Fact]
    public void Once_the_kernel_clears_dirty_a_write_sets_it_again_only_after_the_iotlb_is_flushed()
    {
        var rig = Rig();
        rig.Translation.Translate(Dev, 0x1000, write: true).IsOk.ShouldBeTrue();
        rig.Memory.WriteU64(Leaves + 8, Leaf(rig, 1).WithDirty(false).Raw);
        rig.Translation.Translate(Dev, 0x1000, write: true).FromIotlb.ShouldBeTrue();
        Leaf(rig, 1).Dirty.ShouldBeFalse("the line still says dirty: a driver that does not flush loses the page");
        rig.Translation.InvalidatePages(Domain, InvalidationRange.All, pde: false);
        rig.Translation.Translate(Dev, 0x1000, write: true).FromIotlb.ShouldBeFalse();
        Leaf(rig, 1).Dirty.ShouldBeTrue();
    }

    [Theory]
    [InlineData((byte)0, true, true, false, false)]
    [InlineData((byte)1, true, true, true, false)]
    [InlineData((byte)2, true, true, false, false)]
    [InlineData((byte)3, false, true, false, true)]
    [InlineData((byte)3, true, false, true, false)]
    [InlineData((byte)3, false, false, false, false)]
    public void Had_and_the_efr_decide_which_bits_are_set(byte had, bool haSup, bool hdSup, bool accessed, bool dirty)
    {
        var rig = Rig(had, new IommuConfig().Efr.WithHaSup(haSup).WithHdSup(hdSup));
        rig.Translation.Translate(Dev, 0x1000, write: true).IsOk.ShouldBeTrue();
        Leaf(rig, 1).Accessed.ShouldBe(accessed);
        Leaf(rig, 1).Dirty.ShouldBe(dirty);
        rig.Translation.Translate(Dev, 0x1000, write: true).FromIotlb.ShouldBeTrue("nothing more to set");
    }

    [Fact]
    public void A_refused_request_sets_nothing()
    {
        var rig = Rig();
        rig.Memory.WriteU64(Leaves + 8, DeviceRig.Pte(0x8000, 0, write: false).Raw);
        rig.Translation.Translate(Dev, 0x1000, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
        Leaf(rig, 1).Accessed.ShouldBeFalse();
        Leaf(rig, 1).Dirty.ShouldBeFalse();
    }

    [Fact]
    public void A_replicated_leaf_gets_its_bits_in_the_entry_the_iova_indexes()
    {
        var rig = Rig();
        // A 16 KiB leaf (NextLevel 7, address bits 12 and 13 = 1, 0) in entries 0..3.
        var big = DeviceRig.Pte(0x40_0000 | 0x1000, 7);
        for (ulong i = 0; i < 4; i++)
            rig.Memory.WriteU64(Leaves + (i * 8), big.Raw);
        rig.Translation.Translate(Dev, 0x2010, write: true).Spa.ShouldBe(0x40_2010UL);
        Leaf(rig, 2).Dirty.ShouldBeTrue();
        Leaf(rig, 0).Dirty.ShouldBeFalse();
        Leaf(rig, 3).Dirty.ShouldBeFalse();
    }
}
