using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static Driver.Kernel.Tests.Iommufd.SnpBindingRig;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// On the machine, a smash that no conversion asks for: the SNP guest validated its first 2M at 2M, a TDI does
/// DMA into it through the guest_memfd binding (a 2M I/O page), then the guest rescinds one 4K page of it, which
/// takes an RMP fault that KVM answers with a PSMASH through guest_memfd. The stage-2 leaf and the I/O page are
/// cut first, so DMA to the rest of the 2M goes on; without the binding's notifier it is refused.
/// </summary>
public sealed class SnpBindingRmpFaultTests(ITestOutputHelper output)
{
    private const ulong X = 0x5000;

    private static readonly ulong[] Targets = [0, 0x4000, 0x6000, 0x10_0000, M2 - K4];

    private sealed record Run(SnpBindingRig Rig, DmaAgent Trusted, ulong Spa, long Start, long From, long To, long End);

    private static Run Smash(bool skipNotifier)
    {
        var r = new SnpBindingRig(skipNotifier, kvm: true);
        r.Vcpu!.Pvalidate(GuestBase, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.Success);
        r.File.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        r.Vm.Stage2!.TryLookup(GuestBase >> 12, out _, out int order, out _).ShouldBeTrue();
        order.ShouldBe(9);
        r.Bind().ShouldBe(Errno.Ok);
        r.Domain(r.PrivateHwpt).Table.TryLookup(GuestBase, out PtEntryInfo entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(21);

        var clock = r.Machine.Clock;
        long start = clock.NowNs;
        var trusted = r.Machine.AddDmaAgent(new DmaAgentConfig(Trusted, [.. Targets.Select(o => new DmaOp(GuestBase + o, 8, Write: true))])
        { Trusted = true, IntervalNs = 300, Transactions = 1_000_000, StartNs = start });
        clock.Delay(30_000);
        long from = clock.NowNs;
        r.Machine.Notify.SetOperation("rescind X at 4K");
        r.Vcpu.Pvalidate(GuestBase + X, pageSize2M: false, validate: false).ShouldBe(PvalidateResult.Success);
        r.Machine.Notify.SetOperation(null);
        long to = clock.NowNs;
        clock.Delay(30_000);
        return new Run(r, trusted, head << 12, start, from, to, clock.NowNs);
    }

    private static List<DmaRecord> Between(DmaAgent agent, long from, long to) => [.. agent.Records.Where(d => d.IssuedNs > from && d.FinishedNs < to)];

    [Fact]
    public void AnRmpFaultSmash_CutsTheStage2LeafAndTheIoPageFirst_AndDmaToTheRestOfThe2MGoesOn()
    {
        var run = Smash(skipNotifier: false);
        var r = run.Rig;
        var inside = run.Trusted.Records.Where(d => d.FinishedNs >= run.From && d.IssuedNs <= run.To).ToList();
        output.WriteLine($"smash: {run.To - run.From} ns, {inside.Count} DMA, {inside.Count(d => d.Outcome == DmaOutcome.RmpRefused)} RMP-refused");

        r.Arch.RmpOrder(run.Spa >> 12).ShouldBe(0, "PSMASHed");
        r.File.FolioOrderAt(0).ShouldBe(9, "the folio stays 2M");
        r.Logs.Single(6043, LogLevel.Debug);
        r.Logs.Single(4027, LogLevel.Debug).GetStructuredStateValue("Domains").ShouldBe("2");

        // Stage 2: 4K leaves over the same frames.
        foreach (ulong offset in new ulong[] { 0, X, 0x10_0000 })
        {
            r.Vm.Stage2!.TryLookup((GuestBase + offset) >> 12, out ulong pfn, out int order, out bool isPrivate).ShouldBeTrue();
            (pfn, order, isPrivate).ShouldBe(((run.Spa + offset) >> 12, 0, true));
        }

        // The TDI's table: one cut, so 4K pages at the head and nothing of 2M left, every page translating as before.
        var table = r.Domain(r.PrivateHwpt).Table;
        table.TryLookup(GuestBase, out PtEntryInfo first).ShouldBeTrue();
        first.ShouldBe(first with { Iova = GuestBase, Oa = run.Spa, SizeLg2 = 12 });
        table.TryLookup(GuestBase + K4, out PtEntryInfo second).ShouldBeTrue();
        second.SizeLg2.ShouldBe(12);
        foreach (ulong offset in new ulong[] { X, 0x10_0000, M2 - K4 })
        {
            table.TryLookup(GuestBase + offset, out PtEntryInfo e).ShouldBeTrue();
            e.Size.ShouldBeLessThan(M2);
            (e.Oa + (GuestBase + offset - e.Iova)).ShouldBe(run.Spa + offset);
        }

        r.Machine.Monitor.Violations.ShouldBeEmpty();
        Between(run.Trusted, run.Start, run.From).ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        var after = Between(run.Trusted, run.To, run.End);
        after.Count.ShouldBeGreaterThan(Targets.Length);
        after.ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        // Between the cut and the PSMASH today's size rule refuses a piece below 2M over the 2M entry (the sequenced window).
        inside.Where(d => d.Outcome != DmaOutcome.Completed).ShouldAllBe(d => d.Outcome == DmaOutcome.RmpRefused && (Flags(d) & RmpFaultFlags.SizeMismatch) != 0);
        r.Pages.TotalPins.ShouldBe(0);
    }

    [Fact]
    public void WithoutTheBindingsNotifier_The2MIoPageStaysOverTheSmashedRun_AndTheRmpRefusesItsDma()
    {
        var run = Smash(skipNotifier: true);
        run.Rig.Arch.RmpOrder(run.Spa >> 12).ShouldBe(0);
        run.Rig.Domain(run.Rig.PrivateHwpt).Table.TryLookup(GuestBase + K4, out PtEntryInfo entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(21);
        var after = Between(run.Trusted, run.To, run.End);
        after.ShouldNotBeEmpty();
        after.ShouldAllBe(d => d.Outcome == DmaOutcome.RmpRefused && (Flags(d) & RmpFaultFlags.SizeMismatch) != 0);
    }

    [Fact]
    public void ANotifierThatCannotSplit_LeavesTheRmpEntry2M_AndTheFaultIsItsErrno()
    {
        var r = new SnpBindingRig(kvm: true);
        r.Vcpu!.Pvalidate(GuestBase, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.Success);
        r.File.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        r.Bind().ShouldBe(Errno.Ok);
        var refusing = new Mock<IGuestMemfdNotifier>(MockBehavior.Strict);
        refusing.Setup(n => n.SplitHuge(r.File, 0, M2)).Returns(Errno.ENOMEM);
        using (r.File.AddNotifier(refusing.Object, 0, FileSize))
        {
            r.Vcpu.Pvalidate(GuestBase + X, pageSize2M: false, validate: false).ShouldBe(PvalidateResult.NestedPageFault);
            r.Vm.HandleRmpFault(GuestBase + X).ShouldBe(Errno.ENOMEM);
        }
        refusing.Verify(n => n.SplitHuge(r.File, 0, M2), Times.Exactly(2));
        r.Arch.RmpOrder(head).ShouldBe(9);
        r.Machine.Rmp.ReadEffective(head + 5, out bool is2M);
        is2M.ShouldBeTrue("not smashed");
        r.Logs.All.Count(l => l.Id.Id == 6042).ShouldBe(2);
        r.Logs.All.ShouldNotContain(l => l.Id.Id == 6043);

        // Once the notifier is gone the guest's retry smashes the run.
        r.Vcpu.Pvalidate(GuestBase + X, pageSize2M: false, validate: false).ShouldBe(PvalidateResult.Success);
        r.Arch.RmpOrder(head).ShouldBe(0);
        r.Machine.Monitor.Violations.ShouldBeEmpty();
    }
}
