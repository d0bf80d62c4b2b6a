using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using static Driver.Platform.Tests.SnpGuests;

namespace Driver.Platform.Tests;

/// <summary>
/// Trusted DMA (SEV-TIO): a TDI bound to a guest reads and writes the guest's
/// private pages through the host's I/O page table; the RMP check on the system
/// address refuses everything else, with the flags that say why.
/// </summary>
public class TrustedDmaTests
{
    private const ushort Dev = 0x31;
    private const ushort Untrusted = 0x32;
    private const ushort Domain = 3;
    private const ushort Asid = 5;
    private const ulong Spa2M = 0x4000_0000;
    private const ulong Gpa2M = 0x20_0000;

    private sealed record Rig(DeviceRig D, ulong Root)
    {
        public Machine M => D.Machine;
    }

    // SNP and TIO up, a guest of ASID 5, the device a TDI bound to it, and an untrusted device in the same domain.
    private static Rig Setup(RmpGranularity rule = RmpGranularity.AmdToday)
    {
        var d = TioMachine(rule: rule);
        var m = d.Machine;
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        d.SetDte(Untrusted, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        MakeFirmware(m, TdiCtx);
        TdiCreate(m, Dev, TdiCtx).ShouldBe(SevStatus.Success);
        NewGuest(m, Gctx, Asid);
        TdiBind(m, TdiCtx, Gctx).ShouldBe(SevStatus.Success);
        return new Rig(d, root);
    }

    // The guest's private 2 MiB page: assigned to ASID 5 at GPA 2M, validated by the guest.
    private static void Private2M(Rig r, ushort asid = Asid, ulong gpa = Gpa2M, bool validate = true)
    {
        r.M.Cpu.Rmpupdate(Spa2M, new RmpUpdateArgs(gpa, true, true, false, asid)).ShouldBe(RmpUpdateResult.Success);
        if (validate)
            r.M.GuestCpu(asid).Pvalidate(gpa, Spa2M, true, true).ShouldBe(PvalidateResult.Success);
    }

    // One private 4 KiB page of the guest at GPA 2M + 4K.
    private static void Private4K(Rig r, ushort asid = Asid, ulong gpa = Gpa2M + 0x1000, bool validate = true)
    {
        r.M.Cpu.Rmpupdate(Spa2M + 0x1000, new RmpUpdateArgs(gpa, true, false, false, asid)).ShouldBe(RmpUpdateResult.Success);
        if (validate)
            r.M.GuestCpu(asid).Pvalidate(gpa, Spa2M + 0x1000, false, true).ShouldBe(PvalidateResult.Success);
    }

    private static void MapIo2M(Rig r) => r.D.Map(r.Root, 4, Gpa2M, DeviceRig.Pte(Spa2M, 0), 2);

    private static void MapIo4K(Rig r) => r.D.Map4K(r.Root, 4, Gpa2M + 0x1000, Spa2M + 0x1000);

    private static TranslationResult Trusted(Rig r, ulong gpa, bool write = false) => r.M.Iommu.Translate(Dev, gpa, write, trusted: true);

    private static RmpPageFaultEvent Fault(TranslationResult t)
    {
        t.Status.ShouldBe(TranslationStatus.RmpFault);
        var ev = new RmpPageFaultEvent([t.EventWord0, t.EventWord1]);
        ev.EventCode.ShouldBe(EventCode.RmpPageFault);
        return ev;
    }

    private static IReadOnlyList<DmaRecord> RunAgent(Rig r, ushort device, bool trusted, params DmaOp[] ops)
    {
        var agent = r.M.AddDmaAgent(new DmaAgentConfig(device, ops) { Trusted = trusted, StartNs = r.M.Clock.NowNs + 1_000 });
        r.M.Scheduler.RunUntilIdle();
        return agent.Records;
    }

    [Theory]
    [InlineData(RmpGranularity.AmdToday)]
    [InlineData(RmpGranularity.DeriveSmallest)]
    public void A_trusted_device_reads_and_writes_its_guests_2m_page_through_a_2m_io_mapping(RmpGranularity rule)
    {
        var r = Setup(rule);
        Private2M(r);
        MapIo2M(r);
        r.M.Memory.WriteU64(Spa2M + 0x8000, 0xC0FFEE);
        var records = RunAgent(r, Dev, trusted: true, new DmaOp(Gpa2M + 0x8000, 8, false), new DmaOp(Gpa2M + 0x5000, 0x2000, true));
        records.Select(x => x.Outcome).ShouldBe([DmaOutcome.Completed, DmaOutcome.Completed]);
        records[0].FirstWordRead.ShouldBe(0xC0FFEEUL);
        r.M.Memory.ReadU64(Spa2M + 0x5000).ShouldBe(0x0101_0101_0101_0101UL, "the second transaction writes its number, 1");
        r.M.Memory.ReadU64(Spa2M + 0x6FF8).ShouldBe(0x0101_0101_0101_0101UL);
        r.M.Memory.ReadU64(Spa2M + 0x7000).ShouldBe(0UL, "and nothing past its end");
        var t = Trusted(r, Gpa2M + 0x1_0000);
        t.IsOk.ShouldBeTrue();
        t.Spa.ShouldBe(Spa2M + 0x1_0000);
        t.PageShift.ShouldBe(21, "a 2M I/O page over a 2M RMP entry loads a 2M IOTLB entry");
        r.M.Monitor.Violations.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(RmpGranularity.AmdToday)]
    [InlineData(RmpGranularity.DeriveSmallest)]
    public void A_trusted_device_reads_and_writes_its_guests_4k_page_through_a_4k_io_mapping(RmpGranularity rule)
    {
        var r = Setup(rule);
        Private4K(r);
        MapIo4K(r);
        r.M.Memory.WriteU64(Spa2M + 0x1010, 0xBEEF);
        var records = RunAgent(r, Dev, trusted: true, new DmaOp(Gpa2M + 0x1010, 8, false), new DmaOp(Gpa2M + 0x1800, 16, true));
        records.Select(x => x.Outcome).ShouldBe([DmaOutcome.Completed, DmaOutcome.Completed]);
        records[0].FirstWordRead.ShouldBe(0xBEEFUL);
        r.M.Memory.ReadU64(Spa2M + 0x1800).ShouldBe(0x0101_0101_0101_0101UL, "the second transaction writes its number, 1");
        Trusted(r, Gpa2M + 0x1000).PageShift.ShouldBe(12);
        r.M.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Today_a_4k_io_page_over_the_guests_2m_entry_is_refused_for_size_only()
    {
        var r = Setup();
        Private2M(r);
        MapIo4K(r);
        var ev = Fault(Trusted(r, Gpa2M + 0x1008, write: true));
        ev.RmpFlags.ShouldBe((byte)RmpFaultFlags.SizeMismatch);
        ev.Gpa.ShouldBe(Gpa2M + 0x1008);
        ev.DeviceId.ShouldBe(Dev);
        ev.Write.ShouldBeTrue();
    }

    [Fact]
    public void Derive_smallest_lets_a_4k_io_page_over_a_2m_entry_and_a_2m_io_page_over_4k_entries_through_at_4k()
    {
        var r = Setup(RmpGranularity.DeriveSmallest);
        Private2M(r);
        MapIo4K(r);
        var small = Trusted(r, Gpa2M + 0x1000);
        small.IsOk.ShouldBeTrue();
        small.PageShift.ShouldBe(12);

        var r2 = Setup(RmpGranularity.DeriveSmallest);
        Private4K(r2);
        MapIo2M(r2);
        var big = Trusted(r2, Gpa2M + 0x1000);
        big.IsOk.ShouldBeTrue();
        big.PageShift.ShouldBe(12, "never larger than the RMP entry");
    }

    [Fact]
    public void Today_a_2m_io_page_over_4k_entries_is_refused_for_size()
    {
        var r = Setup();
        Private4K(r);
        MapIo2M(r);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.SizeMismatch);
    }

    [Fact]
    public void A_page_of_another_guest_is_refused_with_the_asid_flag()
    {
        var r = Setup();
        Private4K(r, asid: 6);
        MapIo4K(r);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.AsidMismatch);
    }

    [Fact]
    public void A_hypervisor_page_is_refused_to_a_trusted_request_with_the_asid_flag()
    {
        var r = Setup();
        MapIo4K(r);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.AsidMismatch);
        r.M.Iommu.Translate(Untrusted, Gpa2M + 0x1000, false).IsOk.ShouldBeTrue("the untrusted request may reach it");
    }

    [Fact]
    public void A_page_the_rmp_maps_at_another_guest_address_is_refused_with_the_gpa_flag()
    {
        var r = Setup();
        Private4K(r, gpa: 0x30_1000);
        MapIo4K(r);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.GpaMismatch);
    }

    [Fact]
    public void A_page_the_guest_has_not_validated_is_refused_with_the_validated_flag()
    {
        var r = Setup();
        Private4K(r, validate: false);
        MapIo4K(r);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.NotValidated);
        r.M.GuestCpu(Asid).Pvalidate(Gpa2M + 0x1000, Spa2M + 0x1000, false, true).ShouldBe(PvalidateResult.Success);
        Trusted(r, Gpa2M + 0x1000).IsOk.ShouldBeTrue();
    }

    [Fact]
    public void A_refusal_sets_every_flag_the_page_breaks_and_goes_to_the_event_log()
    {
        var r = Setup();
        Private2M(r, gpa: 0x60_0000, validate: false);
        MapIo4K(r);
        var t = Trusted(r, Gpa2M + 0x1000);
        Fault(t).RmpFlags.ShouldBe((byte)(RmpFaultFlags.GpaMismatch | RmpFaultFlags.NotValidated | RmpFaultFlags.SizeMismatch));
        var logged = r.D.DrainEvents().ShouldHaveSingleItem();
        (logged.W0, logged.W1).ShouldBe((t.EventWord0, t.EventWord1));
    }

    [Fact]
    public void A_trusted_request_from_a_device_without_a_bound_tdi_is_refused()
    {
        var r = Setup();
        Private4K(r);
        MapIo4K(r);
        var ev = Fault(r.M.Iommu.Translate(Untrusted, Gpa2M + 0x1000, false, trusted: true));
        ev.RmpFlags.ShouldBe((byte)RmpFaultFlags.UnboundTdi);
        ev.DeviceId.ShouldBe(Untrusted);

        Trusted(r, Gpa2M + 0x1000).IsOk.ShouldBeTrue();
        TdiUnbind(r.M, TdiCtx).ShouldBe(SevStatus.Success);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.UnboundTdi, "nothing cached survives the unbind");
    }

    [Fact]
    public void An_untrusted_device_is_refused_on_the_guests_private_page_even_after_a_trusted_fill_of_the_same_page()
    {
        var r = Setup();
        Private4K(r);
        MapIo4K(r);
        Trusted(r, Gpa2M + 0x1000).IsOk.ShouldBeTrue();
        Trusted(r, Gpa2M + 0x1000).FromIotlb.ShouldBeTrue("the trusted line is cached");
        var records = RunAgent(r, Untrusted, trusted: false, new DmaOp(Gpa2M + 0x1000, 8, false));
        records.ShouldHaveSingleItem().Outcome.ShouldBe(DmaOutcome.RmpRefused);
        new RmpPageFaultEvent([records[0].EventWord0, records[0].EventWord1]).RmpFlags.ShouldBe((byte)RmpFaultFlags.NotHypervisorOwned);
        r.M.Iommu.Translate(Dev, Gpa2M + 0x1000, false).Status.ShouldBe(TranslationStatus.RmpFault, "the TDI's own T=0 request is untrusted too");
        r.M.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void A_trusted_line_is_not_reused_after_the_guest_rescinds_the_page()
    {
        var r = Setup();
        Private4K(r);
        MapIo4K(r);
        Trusted(r, Gpa2M + 0x1000).IsOk.ShouldBeTrue();
        r.M.GuestCpu(Asid).Pvalidate(Gpa2M + 0x1000, Spa2M + 0x1000, false, false).ShouldBe(PvalidateResult.Success);
        Fault(Trusted(r, Gpa2M + 0x1000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.NotValidated);
    }

    [Fact]
    public void A_trusted_passthrough_request_is_checked_with_its_address_as_the_guest_address()
    {
        var r = Setup();
        r.D.SetDte(Dev, default(AmdDte).WithValid(true).WithTranslationValid(true).WithMode(PagingMode.Disabled).WithIoRead(true).WithIoWrite(true).WithDomainId(Domain));
        r.M.Cpu.Rmpupdate(Spa2M + 0x1000, new RmpUpdateArgs(Spa2M + 0x1000, true, false, false, Asid)).ShouldBe(RmpUpdateResult.Success);
        r.M.GuestCpu(Asid).Pvalidate(Spa2M + 0x1000, Spa2M + 0x1000, false, true).ShouldBe(PvalidateResult.Success);
        Trusted(r, Spa2M + 0x1000).IsOk.ShouldBeTrue();
        Fault(Trusted(r, Spa2M + 0x2000)).RmpFlags.ShouldBe((byte)RmpFaultFlags.AsidMismatch);
    }

    [Fact]
    public void Without_snp_the_t_bit_changes_nothing()
    {
        var d = new DeviceRig().Init();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        d.Map4K(root, 4, 0x1000, 0x9000);
        var t = d.Machine.Iommu.Translate(Dev, 0x1000, false, trusted: true);
        t.IsOk.ShouldBeTrue();
        t.Spa.ShouldBe(0x9000UL);
    }

    [Fact]
    public void The_refusal_is_logged_with_its_flags()
    {
        var logs = new CapturedLogs();
        var config = new MachineConfig
        {
            Iommu = new IommuConfig { Efr2 = new ExtendedFeature2Register(0).WithSevSnpIoSup(true) },
            LoggerFactory = logs,
        };
        var d = new DeviceRig(config).Init();
        PspMailbox.InitEx(d.Machine, default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(true)).ShouldBe(SevStatus.Success);
        d.Machine.Iommu.Translate(Dev, 0x1000, false, trusted: true).Status.ShouldBe(TranslationStatus.RmpFault);
        logs.WithId(2008).ShouldHaveSingleItem().GetStructuredStateValue("Flags").ShouldBe(nameof(RmpFaultFlags.UnboundTdi));
    }
}
