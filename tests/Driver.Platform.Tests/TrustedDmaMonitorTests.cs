using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Iommu;
using Driver.Platform.Monitors;
using static Driver.Platform.Tests.SnpGuests;

namespace Driver.Platform.Tests;

/// <summary>
/// The monitor catches DMA that the RMP check must refuse: with the check
/// broken on purpose (the test-only switch), a trusted request reaching another
/// guest's page and an untrusted request reaching a private page are violations;
/// with the check intact, the same requests are refused and the monitor is quiet.
/// </summary>
public class TrustedDmaMonitorTests
{
    private const ushort Dev = 0x31;
    private const ushort Untrusted = 0x32;
    private const ushort Domain = 3;
    private const ulong OtherGuestSpa = 0x4000_1000;
    private const ulong OwnSpa = 0x4000_2000;

    private static DeviceRig Setup()
    {
        var d = TioMachine();
        var m = d.Machine;
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        d.SetDte(Untrusted, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        d.Map4K(root, 4, 0x1000, OtherGuestSpa);
        d.Map4K(root, 4, 0x2000, OwnSpa);
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        NewGuest(m, Gctx, 5);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        m.Cpu.Rmpupdate(OtherGuestSpa, new RmpUpdateArgs(0x1000, true, false, false, 6)).ShouldBe(RmpUpdateResult.Success);
        m.GuestCpu(6).Pvalidate(0x1000, OtherGuestSpa, false, true).ShouldBe(PvalidateResult.Success);
        m.Cpu.Rmpupdate(OwnSpa, new RmpUpdateArgs(0x2000, true, false, false, 5)).ShouldBe(RmpUpdateResult.Success);
        m.GuestCpu(5).Pvalidate(0x2000, OwnSpa, false, true).ShouldBe(PvalidateResult.Success);
        return d;
    }

    [Fact]
    public void With_the_check_intact_both_requests_are_refused_and_nothing_is_reported()
    {
        var m = Setup().Machine;
        m.Iommu.Translate(Dev, 0x1000, false, trusted: true).Status.ShouldBe(TranslationStatus.RmpFault);
        m.Iommu.Translate(Untrusted, 0x2000, false).Status.ShouldBe(TranslationStatus.RmpFault);
        m.Iommu.Translate(Dev, 0x2000, true, trusted: true).IsOk.ShouldBeTrue();
        m.Monitor.Violations.ShouldBeEmpty("a trusted DMA to its own guest's page is no violation");
    }

    [Fact]
    public void A_trusted_dma_to_another_guests_page_is_caught_when_the_check_is_broken()
    {
        var m = Setup().Machine;
        m.Iommu.BreakRmpCheckForTests = true;
        m.Notify.SetOperation("tdi bound to guest 5");
        m.Iommu.Translate(Dev, 0x1008, true, trusted: true).IsOk.ShouldBeTrue("the broken check let it through");
        var v = m.Monitor.Violations.ShouldHaveSingleItem();
        v.Kind.ShouldBe(ViolationKind.TrustedDmaReachedForeignPage);
        v.DeviceId.ShouldBe(Dev);
        v.Address.ShouldBe(0x1008UL);
        v.Detail.ShouldBe(OtherGuestSpa + 8);
        v.KernelOperation.ShouldBe("tdi bound to guest 5");
        m.Iommu.Translate(Dev, 0x2000, false, trusted: true).IsOk.ShouldBeTrue();
        m.Monitor.Violations.Count.ShouldBe(1, "its own guest's page stays fine");
    }

    [Fact]
    public void An_untrusted_dma_to_a_private_page_is_caught_when_the_check_is_broken()
    {
        var m = Setup().Machine;
        m.Iommu.BreakRmpCheckForTests = true;
        m.Iommu.Translate(Untrusted, 0x2000, false).IsOk.ShouldBeTrue();
        m.Iommu.Translate(Dev, 0x2010, false).IsOk.ShouldBeTrue("the TDI's own T=0 request is untrusted as well");
        m.Monitor.Violations.Select(v => (v.Kind, v.DeviceId)).ShouldBe(
            [(ViolationKind.PrivatePageReached, Untrusted), (ViolationKind.PrivatePageReached, Dev)]);
    }

    [Fact]
    public void A_trusted_iotlb_hit_is_watched_too()
    {
        var m = Setup().Machine;
        m.Iommu.BreakRmpCheckForTests = true;
        m.Iommu.Translate(Dev, 0x1000, false, trusted: true).IsOk.ShouldBeTrue();
        var hit = m.Iommu.Translate(Dev, 0x1000, false, trusted: true);
        hit.FromIotlb.ShouldBeTrue();
        m.Monitor.Violations.Select(v => v.Kind).ShouldBe([ViolationKind.TrustedDmaReachedForeignPage, ViolationKind.TrustedDmaReachedForeignPage]);
    }
}
