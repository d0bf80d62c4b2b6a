using Driver.Hw.AmdIommu;
using Driver.Platform.Iommu;

namespace Driver.Platform.Tests;

public class TranslationTests
{
    private const ushort Dev = 0x10;
    private const ushort Domain = 5;

    private static (DeviceRig D, ulong Root) Setup(PagingMode mode = PagingMode.Level4, bool read = true, bool write = true)
    {
        var d = new DeviceRig().Init();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, mode, Domain, read, write));
        return (d, root);
    }

    [Fact]
    public void A_four_level_walk_translates_a_4k_page()
    {
        var (d, root) = Setup();
        d.Map4K(root, 4, 0x7F_1234_5000, 0xABC_D000);
        var r = d.Dma(Dev, 0x7F_1234_5678);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Spa.ShouldBe(0xABC_D678UL);
        r.Result.PageShift.ShouldBe(12);
        r.Result.FromIotlb.ShouldBeFalse();
        r.Result.CostNs.ShouldBe(5 * d.Machine.Costs.IommuMemoryAccessNs);
        var again = d.Dma(Dev, 0x7F_1234_5008, write: true);
        again.Result.FromIotlb.ShouldBeTrue();
        again.Spa.ShouldBe(0xABC_D008UL);
        again.Result.CostNs.ShouldBe(0);
        d.DrainEvents().ShouldBeEmpty();
    }

    [Theory]
    [InlineData(1, 0x1F_F000UL)]
    [InlineData(2, 0x3FFF_F000UL)]
    [InlineData(3, 0x7F_FFFF_F000UL)]
    [InlineData(4, 0xFFFF_FFFF_F000UL)]
    [InlineData(5, 0x1FF_FFFF_FFFF_F000UL)]
    [InlineData(6, 0xFFFF_FFFF_FFFF_F000UL)]
    public void Every_mode_walks_its_number_of_levels(int mode, ulong iova)
    {
        var (d, root) = Setup((PagingMode)mode);
        d.Map4K(root, mode, iova, 0x4000);
        var r = d.Dma(Dev, iova | 0x10);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Spa.ShouldBe(0x4010UL);
        r.Result.CostNs.ShouldBe((mode + 1) * d.Machine.Costs.IommuMemoryAccessNs);
    }

    [Theory]
    [InlineData(1, 0x20_0000UL)]
    [InlineData(3, 0x80_0000_0000UL)]
    [InlineData(4, 0x1_0000_0000_0000UL)]
    public void An_iova_above_the_mode_faults(int mode, ulong iova)
    {
        var (d, root) = Setup((PagingMode)mode);
        d.Map4K(root, mode, 0, 0x4000);
        var r = d.Dma(Dev, iova);
        r.Status.ShouldBe(TranslationStatus.IoPageFault);
        r.Fault.Present.ShouldBeFalse();
    }

    [Fact]
    public void A_missing_entry_faults_with_the_event_the_driver_reads()
    {
        var (d, _) = Setup();
        var r = d.Dma(Dev, 0x1234_5000, write: true);
        r.Status.ShouldBe(TranslationStatus.IoPageFault);
        var ev = new IoPageFaultDetailEvent([d.DrainEvents().Single().W0, 0]);
        var logged = r.Fault;
        logged.EventCode.ShouldBe(EventCode.IoPageFault);
        logged.DeviceId.ShouldBe(Dev);
        logged.DomainOrPasid.ShouldBe(Domain);
        logged.Address.ShouldBe(0x1234_5000UL);
        logged.Write.ShouldBeTrue();
        logged.Present.ShouldBeFalse();
        logged.PermissionFault.ShouldBeFalse();
        logged.ReservedBits.ShouldBeFalse();
        ev.DeviceId.ShouldBe(Dev);
        new IoPageFaultEvent([r.Result.EventWord0, r.Result.EventWord1]).Write.ShouldBeTrue();
    }

    [Fact]
    public void Permissions_are_anded_down_the_walk()
    {
        var (d, root) = Setup(PagingMode.Level3);
        d.Map4K(root, 3, 0x1000, 0x9000);
        // Take write away at the top-level PDE only.
        var top = new AmdV1Pte(d.Mem.ReadU64(root));
        d.Mem.WriteU64(root, top.WithIoWrite(false).Raw);
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.Ok);
        var w = d.Dma(Dev, 0x1000, write: true);
        w.Status.ShouldBe(TranslationStatus.IoPageFault);
        w.Fault.Present.ShouldBeTrue();
        w.Fault.PermissionFault.ShouldBeTrue();
        w.Fault.Write.ShouldBeTrue();
    }

    [Fact]
    public void Leaf_read_permission_and_dte_permissions_also_count()
    {
        var (d, root) = Setup(PagingMode.Level3, read: true, write: false);
        d.Map4K(root, 3, 0x1000, 0x9000, read: false, write: true);
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.IoPageFault);
        d.Dma(Dev, 0x1000, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void A_permission_miss_on_a_cached_line_rewalks_and_faults()
    {
        var (d, root) = Setup(PagingMode.Level3);
        d.Map4K(root, 3, 0x1000, 0x9000, read: true, write: false);
        d.Dma(Dev, 0x1000).Result.FromIotlb.ShouldBeFalse();
        d.Dma(Dev, 0x1000).Result.FromIotlb.ShouldBeTrue();
        d.Dma(Dev, 0x1000, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Theory]
    [InlineData(2, 21)]
    [InlineData(3, 30)]
    public void Natural_size_leaves_at_upper_levels(int level, int shift)
    {
        var (d, root) = Setup();
        ulong size = 1UL << shift;
        d.Map(root, 4, 3 * size, DeviceRig.Pte(7 * size, 0), level);
        var r = d.Dma(Dev, 3 * size + size - 8);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Spa.ShouldBe(7 * size + size - 8);
        r.Result.PageShift.ShouldBe(shift);
    }

    [Theory]
    [InlineData(1, 13)]
    [InlineData(1, 16)]
    [InlineData(1, 20)]
    [InlineData(2, 22)]
    [InlineData(3, 33)]
    public void Next_level_7_encodes_the_page_size_in_the_address(int level, int shift)
    {
        var (d, root) = Setup();
        ulong size = 1UL << shift;
        ulong spa = 0x40_0000_0000UL;
        // Address bits 12 .. shift-2 set, bit shift-1 clear.
        ulong encoded = spa | ((size >> 1) - 0x1000);
        ulong iova = 2 * size;
        d.Map(root, 4, iova + 0x1000, DeviceRig.Pte(encoded, 7), level);
        var r = d.Dma(Dev, iova + 0x1000 + 0x10);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Spa.ShouldBe(spa + 0x1010);
        r.Result.PageShift.ShouldBe(shift);
    }

    [Theory]
    [InlineData(2, 21)]
    [InlineData(2, 30)]
    [InlineData(4, 39)]
    public void Bad_encoded_sizes_fault_as_reserved(int level, int shift)
    {
        var (d, root) = Setup();
        ulong size = 1UL << shift;
        ulong encoded = (size >> 1) - 0x1000;
        d.Map(root, 4, 0, DeviceRig.Pte(encoded, 7), level);
        var r = d.Dma(Dev, 0);
        r.Status.ShouldBe(TranslationStatus.IoPageFault);
        r.Fault.ReservedBits.ShouldBeTrue();
        r.Fault.Present.ShouldBeTrue();
    }

    [Fact]
    public void Reserved_pte_bits_and_a_next_level_that_does_not_descend_fault()
    {
        var (d, root) = Setup(PagingMode.Level2);
        ulong slot = d.Map4K(root, 2, 0x1000, 0x9000);
        d.Mem.WriteU64(slot, DeviceRig.Pte(0x9000, 0).Raw | (1UL << 52));
        var r = d.Dma(Dev, 0x1000);
        r.Status.ShouldBe(TranslationStatus.IoPageFault);
        r.Fault.ReservedBits.ShouldBeTrue();
        ulong other = d.AllocTable();
        d.SetDte(Dev + 1, DeviceRig.Dte(other, PagingMode.Level2, Domain + 1));
        d.Mem.WriteU64(other, DeviceRig.Pte(d.AllocTable(), 2).Raw);
        d.Dma(Dev + 1, 0x2000).Fault.ReservedBits.ShouldBeTrue();
    }

    [Fact]
    public void A_natural_512g_leaf_is_the_erratum_size_and_faults()
    {
        var (d, root) = Setup(PagingMode.Level5);
        d.Map(root, 5, 0, DeviceRig.Pte(0, 0), 4);
        var r = d.Dma(Dev, 0x1000);
        r.Status.ShouldBe(TranslationStatus.IoPageFault);
        r.Fault.ReservedBits.ShouldBeTrue();
    }

    [Fact]
    public void A_pde_may_skip_levels_when_the_skipped_iova_bits_are_zero()
    {
        var (d, root) = Setup(PagingMode.Level3);
        ulong level1 = d.AllocTable();
        d.Mem.WriteU64(root, DeviceRig.Pte(level1, 1).Raw);
        d.Mem.WriteU64(level1 + 8 * 3, DeviceRig.Pte(0x7000, 0).Raw);
        d.Dma(Dev, 0x20_3010).Status.ShouldBe(TranslationStatus.IoPageFault);
        d.Dma(Dev, 0x3010).Spa.ShouldBe(0x7010UL);
        // The same with the directory now served from the PDE cache.
        d.Dma(Dev, 0x40_3010).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void Dte_valid_clear_passes_through()
    {
        var d = new DeviceRig().Init();
        var r = d.Dma(3, 0x1234_5678, write: true);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Spa.ShouldBe(0x1234_5678UL);
    }

    [Fact]
    public void An_iommu_that_is_off_passes_everything_through()
    {
        var d = new DeviceRig().Init(enable: false);
        d.SetDte(Dev, DeviceRig.Dte(0, PagingMode.Level3, 1).WithTranslationValid(false));
        d.Dma(Dev, 0x5000).Spa.ShouldBe(0x5000UL);
    }

    [Fact]
    public void Translation_valid_clear_blocks_silently()
    {
        var (d, root) = Setup();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain).WithTranslationValid(false));
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.Blocked);
        d.DrainEvents().ShouldBeEmpty();
    }

    [Fact]
    public void Mode_zero_passes_through_under_the_dte_permissions()
    {
        var d = new DeviceRig().Init();
        d.SetDte(Dev, DeviceRig.Dte(0, PagingMode.Disabled, Domain, read: true, write: false));
        d.Dma(Dev, 0x8000).Spa.ShouldBe(0x8000UL);
        var w = d.Dma(Dev, 0x8000, write: true);
        w.Status.ShouldBe(TranslationStatus.IoPageFault);
        w.Fault.PermissionFault.ShouldBeTrue();
        d.SetDte(Dev + 1, DeviceRig.Dte(0, PagingMode.Disabled, Domain, read: false, write: true));
        d.Dma(Dev + 1, 0x8000).Status.ShouldBe(TranslationStatus.IoPageFault);
        d.Dma(Dev + 1, 0x8000, write: true).Status.ShouldBe(TranslationStatus.Ok);
    }

    public static TheoryData<int, int> ReservedDteBits => new()
    {
        { 0, 2 }, { 0, 6 }, { 0, 63 }, { 2, 52 }, { 2, 53 }, { 3, 0 }, { 3, 14 }, { 3, 48 }, { 3, 53 },
    };

    [Theory]
    [MemberData(nameof(ReservedDteBits))]
    public void A_reserved_dte_bit_is_an_illegal_dte(int word, int bit)
    {
        var (d, root) = Setup();
        Span<ulong> words = stackalloc ulong[4];
        DeviceRig.Dte(root, PagingMode.Level4, Domain).CopyTo(words);
        words[word] |= 1UL << bit;
        d.SetDte(Dev, new AmdDte(words));
        var r = d.Dma(Dev, 0x4000, write: true);
        r.Status.ShouldBe(TranslationStatus.IllegalDte);
        var ev = new IllegalDevTableEntryEvent([r.Result.EventWord0, r.Result.EventWord1]);
        ev.EventCode.ShouldBe(EventCode.IllegalDevTableEntry);
        ev.DeviceId.ShouldBe(Dev);
        ev.Address.ShouldBe(0x4000UL);
        ev.Write.ShouldBeTrue();
        DeviceRig.Code(d.DrainEvents().Single()).ShouldBe(EventCode.IllegalDevTableEntry);
        // Not cached: fixing the entry is enough.
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        d.Dma(Dev, 0x4000).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void Mode_7_and_modes_deeper_than_hats_are_illegal()
    {
        var (d, root) = Setup();
        d.SetDte(Dev, DeviceRig.Dte(root, (PagingMode)7, Domain));
        d.Dma(Dev, 0).Status.ShouldBe(TranslationStatus.IllegalDte);
        var shallow = new DeviceRig(new MachineConfig { Iommu = new IommuConfig { Efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level4) } }).Init();
        shallow.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level5, Domain));
        shallow.Dma(Dev, 0).Status.ShouldBe(TranslationStatus.IllegalDte);
        shallow.SetDte(Dev + 1, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        shallow.Dma(Dev + 1, 0).Status.ShouldBe(TranslationStatus.IoPageFault);
        var none = new DeviceRig(new MachineConfig { Iommu = new IommuConfig { Efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Unsupported) } }).Init();
        none.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level1, Domain));
        none.Dma(Dev, 0).Status.ShouldBe(TranslationStatus.IllegalDte);
        var five = new DeviceRig(new MachineConfig { Iommu = new IommuConfig { Efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level5) } }).Init();
        five.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level6, Domain));
        five.Dma(Dev, 0).Status.ShouldBe(TranslationStatus.IllegalDte);
        five.SetDte(Dev + 1, DeviceRig.Dte(root, PagingMode.Level5, Domain));
        five.Dma(Dev + 1, 0).Status.ShouldBe(TranslationStatus.IoPageFault);
    }

    [Fact]
    public void Suppress_all_faults_keeps_the_log_quiet()
    {
        var (d, root) = Setup();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain).WithSuppressAllFaults(true));
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.IoPageFault);
        d.DrainEvents().ShouldBeEmpty();
    }

    [Fact]
    public void A_device_table_running_off_the_address_space_is_a_device_table_error()
    {
        var d = new DeviceRig().Init();
        d.Write64(AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(0xF_FFFF_FFFF_F000).WithSize(511).Raw);
        d.Dma(127, 0).Status.ShouldBe(TranslationStatus.Ok);
        d.Dma(128, 0).Status.ShouldBe(TranslationStatus.DeviceTableError);
    }

    [Fact]
    public void A_device_beyond_the_device_table_is_a_device_table_error()
    {
        var d = new DeviceRig().Init();
        d.Write64(AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(DeviceRig.DeviceTable).WithSize(0).Raw);
        d.Dma(127, 0).Status.ShouldBe(TranslationStatus.Ok);
        var r = d.Dma(128, 0, write: true);
        r.Status.ShouldBe(TranslationStatus.DeviceTableError);
        var ev = new DevTabHardwareErrorEvent([r.Result.EventWord0, r.Result.EventWord1]);
        ev.EventCode.ShouldBe(EventCode.DevTabHardwareError);
        ev.Address.ShouldBe(DeviceRig.DeviceTable + 128 * 32);
        ev.Write.ShouldBeTrue();
        d.DrainEvents().Count.ShouldBe(1);
    }
}
