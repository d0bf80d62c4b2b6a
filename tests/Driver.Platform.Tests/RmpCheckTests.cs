using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Iommu;

namespace Driver.Platform.Tests;

/// <summary>The IOMMU's RMP check once firmware has turned SNP on, under both granularity rules.</summary>
public class RmpCheckTests
{
    private const ushort Dev = 0x30;
    private const ushort Domain = 3;
    private const ulong Spa2M = 0x4000_0000;

    private static (DeviceRig D, ulong Root) Setup(RmpGranularity rule)
    {
        var d = PspMailbox.SnpMachine(config: new MachineConfig { Iommu = new IommuConfig { RmpRule = rule } });
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        return (d, root);
    }

    private static void Rmp2M(DeviceRig d) =>
        d.Machine.Cpu.Rmpupdate(Spa2M, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Success);

    private static void MapIo2M(DeviceRig d, ulong root) => d.Map(root, 4, 0x20_0000, DeviceRig.Pte(Spa2M, 0), 2);

    private static void MapIo4K(DeviceRig d, ulong root) => d.Map4K(root, 4, 0x20_1000, Spa2M + 0x1000);

    [Fact]
    public void Today_a_4k_io_page_over_a_4k_rmp_entry_is_allowed()
    {
        var (d, root) = Setup(RmpGranularity.AmdToday);
        MapIo4K(d, root);
        var r = d.Dma(Dev, 0x20_1000);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Result.PageShift.ShouldBe(12);
    }

    [Fact]
    public void Today_a_4k_io_page_over_a_2m_rmp_entry_is_refused()
    {
        var (d, root) = Setup(RmpGranularity.AmdToday);
        Rmp2M(d);
        MapIo4K(d, root);
        var r = d.Dma(Dev, 0x20_1008, write: true);
        r.Status.ShouldBe(TranslationStatus.RmpFault);
        var ev = new RmpPageFaultEvent([r.Result.EventWord0, r.Result.EventWord1]);
        ev.EventCode.ShouldBe(EventCode.RmpPageFault);
        ev.DeviceId.ShouldBe(Dev);
        ev.Gpa.ShouldBe(0x20_1008UL);
        ev.Write.ShouldBeTrue();
        ev.RmpFlags.ShouldBe((byte)RmpFaultFlags.SizeMismatch);
        DeviceRig.Code(d.DrainEvents().Single()).ShouldBe(EventCode.RmpPageFault);
    }

    [Fact]
    public void Today_a_2m_io_page_needs_a_2m_rmp_entry()
    {
        var (d, root) = Setup(RmpGranularity.AmdToday);
        MapIo2M(d, root);
        d.Dma(Dev, 0x20_5000).Status.ShouldBe(TranslationStatus.RmpFault);
        Rmp2M(d);
        var r = d.Dma(Dev, 0x20_5000);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Result.PageShift.ShouldBe(21);
        r.Spa.ShouldBe(Spa2M + 0x5000);
    }

    [Fact]
    public void Today_a_1g_io_page_loads_2m_entries()
    {
        var (d, root) = Setup(RmpGranularity.AmdToday);
        Rmp2M(d);
        d.Map(root, 4, Spa2M, DeviceRig.Pte(Spa2M, 0), 3);
        var r = d.Dma(Dev, Spa2M + 0x10);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Result.PageShift.ShouldBe(21);
    }

    [Fact]
    public void Derive_smallest_takes_the_smaller_page_and_never_fails_on_size()
    {
        var (d, root) = Setup(RmpGranularity.DeriveSmallest);
        MapIo2M(d, root);
        var small = d.Dma(Dev, 0x20_5000);
        small.Status.ShouldBe(TranslationStatus.Ok);
        small.Result.PageShift.ShouldBe(12);
        Rmp2M(d);
        d.Dma(Dev, 0x20_5000).Result.PageShift.ShouldBe(21);
        d.Map4K(root, 4, 0x60_0000, Spa2M + 0x9000);
        var r = d.Dma(Dev, 0x60_0000);
        r.Status.ShouldBe(TranslationStatus.Ok);
        r.Result.PageShift.ShouldBe(12);
    }

    [Theory]
    [InlineData(RmpGranularity.AmdToday)]
    [InlineData(RmpGranularity.DeriveSmallest)]
    public void A_private_page_is_refused_under_either_rule(RmpGranularity rule)
    {
        var (d, root) = Setup(rule);
        MapIo4K(d, root);
        d.Machine.Cpu.Rmpupdate(Spa2M + 0x1000, new RmpUpdateArgs(0x1000, true, false, false, 9)).ShouldBe(RmpUpdateResult.Success);
        var r = d.Dma(Dev, 0x20_1000);
        r.Status.ShouldBe(TranslationStatus.RmpFault);
        new RmpPageFaultEvent([r.Result.EventWord0, r.Result.EventWord1]).RmpFlags.ShouldBe((byte)RmpFaultFlags.NotHypervisorOwned);
        d.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Rmpupdate_flushes_the_iotlb_so_a_conversion_takes_effect_at_once()
    {
        var (d, root) = Setup(RmpGranularity.AmdToday);
        MapIo4K(d, root);
        d.Dma(Dev, 0x20_1000).Status.ShouldBe(TranslationStatus.Ok);
        d.Dma(Dev, 0x20_1000).Result.FromIotlb.ShouldBeTrue();
        d.Machine.Cpu.Rmpupdate(Spa2M + 0x1000, new RmpUpdateArgs(0x1000, true, false, false, 9)).ShouldBe(RmpUpdateResult.Success);
        d.Dma(Dev, 0x20_1000).Status.ShouldBe(TranslationStatus.RmpFault);
    }

    [Fact]
    public void Passthrough_dma_is_checked_too_but_without_a_size_rule()
    {
        var d = PspMailbox.SnpMachine();
        Rmp2M(d);
        var shared = d.Dma(0x77, Spa2M + 0x40);
        shared.Status.ShouldBe(TranslationStatus.Ok);
        shared.Result.PageShift.ShouldBe(12);
        d.Machine.Cpu.Rmpupdate(Spa2M + 0x20_0000, new RmpUpdateArgs(0, true, false, false, 4)).ShouldBe(RmpUpdateResult.Success);
        d.Dma(0x77, Spa2M + 0x20_0000).Status.ShouldBe(TranslationStatus.RmpFault);
        var far = d.Dma(0x77, 0x10_0000_0000);
        far.Status.ShouldBe(TranslationStatus.Ok, "memory the RMP does not cover is not checked");
        far.Result.PageShift.ShouldBe(12);
        far.Result.CostNs.ShouldBe(0, "DTE cached, no RMP read");
    }

    [Fact]
    public void Without_snp_the_iommu_does_not_consult_the_rmp()
    {
        var d = PspMailbox.SnpMachine(init: false);
        d.Machine.Cpu.Rmpupdate(Spa2M, new RmpUpdateArgs(0, true, false, false, 4)).ShouldBe(RmpUpdateResult.Success);
        d.Dma(0x77, Spa2M).Status.ShouldBe(TranslationStatus.Ok);
        d.Machine.Iommu.SnpEnforced.ShouldBeFalse();
    }
}
