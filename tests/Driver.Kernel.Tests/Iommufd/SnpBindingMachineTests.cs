using Driver.Kernel.Iommufd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Driver.Platform.Monitors;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static Driver.Kernel.Tests.Iommufd.SnpBindingRig;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// End to end on the machine: an SNP guest on 2M folios whose TDI does DMA into its private memory
/// through the proposed guest_memfd binding while the guest shares one 4K page and takes it back, and
/// an untrusted device uses a shared page that is then punched out. With the notifier the monitors see
/// nothing; without it the RMP refuses the smashed run (a 2M I/O page over 4K entries) and the
/// untrusted device reaches a freed frame.
/// </summary>
public sealed class SnpBindingMachineTests(ITestOutputHelper output)
{
    private const ulong X = 0x5000;
    private const ulong Y = M2 + 0x3000;

    private static readonly ulong[] TrustedTargets = [0x4000, X, 0x6000, 0x10_0000, M2 - K4];

    private sealed record Timeline(long Start, long SharedFrom, long SharedTo, long PrivateFrom, long PrivateTo, long PunchFrom, long PunchTo, long End);

    private static (SnpBindingRig Rig, DmaAgent Trusted, DmaAgent Untrusted, Timeline Times, ulong YPa) Run(bool skipNotifier, bool kernelRemap)
    {
        var r = new SnpBindingRig(skipNotifier);
        ulong spa = r.FaultIn2M(0);
        r.Convert(Y, K4, toPrivate: false, "share Y").ShouldBe(Errno.Ok);
        r.File.GetPfn(Y / K4, out ulong yPfn, out int yOrder).ShouldBe(Errno.Ok);
        yOrder.ShouldBe(0);
        r.Bind(kernelRemap ? IoasMapGuestMemfdFlags.KernelRemap : IoasMapGuestMemfdFlags.None).ShouldBe(Errno.Ok);
        r.Domain(r.PrivateHwpt).Table.TryLookup(GuestBase, out PtEntryInfo entry).ShouldBeTrue();
        entry.ShouldBe(entry with { Oa = spa, SizeLg2 = 21 });
        r.Domain(r.SharedHwpt).IovaToPhys(GuestBase + Y).ShouldBe(yPfn << 12);
        r.Domain(r.SharedHwpt).IovaToPhys(GuestBase).ShouldBe(0UL);

        var clock = r.Machine.Clock;
        long start = clock.NowNs;
        var trusted = r.Machine.AddDmaAgent(new DmaAgentConfig(Trusted, [.. TrustedTargets.Select(o => new DmaOp(GuestBase + o, 8, Write: true))])
        { Trusted = true, IntervalNs = 300, Transactions = 1_000_000, StartNs = start });
        var untrusted = r.Machine.AddDmaAgent(new DmaAgentConfig(Untrusted, [new DmaOp(GuestBase + Y, 8, Write: true)])
        { IntervalNs = 700, Transactions = 1_000_000, StartNs = start });
        clock.Delay(30_000);

        long sharedFrom = clock.NowNs;
        r.Convert(X, K4, toPrivate: false, "convert X to shared").ShouldBe(Errno.Ok);
        if (!kernelRemap)
            r.Utils.IoasRefreshGuestMemfd(r.Ioas, r.Fd, X, K4, GuestBase + X).ShouldBe(Errno.Ok);
        long sharedTo = clock.NowNs;
        clock.Delay(30_000);

        long privateFrom = clock.NowNs;
        r.Convert(X, K4, toPrivate: true, "convert X to private").ShouldBe(Errno.Ok);
        if (!kernelRemap)
            r.Utils.IoasRefreshGuestMemfd(r.Ioas, r.Fd, X, K4, GuestBase + X).ShouldBe(Errno.Ok);
        r.Machine.GuestCpu(Asid).Pvalidate(GuestBase + X, spa + X, pageSize2M: false, validate: true).ShouldBe(Driver.Hw.Interfaces.PvalidateResult.Success);
        long privateTo = clock.NowNs;
        clock.Delay(30_000);

        long punchFrom = clock.NowNs;
        r.Machine.Notify.SetOperation("punch a hole at Y");
        r.File.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, Y, K4).ShouldBe(Errno.Ok);
        r.Machine.Notify.SetOperation(null);
        long punchTo = clock.NowNs;
        clock.Delay(30_000);
        return (r, trusted, untrusted, new Timeline(start, sharedFrom, sharedTo, privateFrom, privateTo, punchFrom, punchTo, clock.NowNs), yPfn << 12);
    }

    private static IEnumerable<DmaRecord> Between(DmaAgent agent, long from, long to) => agent.Records.Where(d => d.IssuedNs > from && d.FinishedNs < to);

    private void Report(string name, DmaAgent agent, Timeline t)
    {
        foreach (var (what, from, to) in new[] { ("to shared", t.SharedFrom, t.SharedTo), ("to private", t.PrivateFrom, t.PrivateTo), ("punch", t.PunchFrom, t.PunchTo) })
        {
            var inside = agent.Records.Where(d => d.FinishedNs >= from && d.IssuedNs <= to).ToList();
            output.WriteLine($"{name}, {what}: {to - from} ns, {inside.Count} DMA, {inside.Count(d => d.Outcome == DmaOutcome.RmpRefused)} RMP-refused, {inside.Count(d => d.Outcome == DmaOutcome.Faulted)} faulted");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ATrustedDevice_KeepsDoingDmaIntoPrivateMemory_WhileTheGuestConvertsA4KBothWays_AndTheMonitorsSeeNothing(bool kernelRemap)
    {
        var (r, trusted, untrusted, t, _) = Run(skipNotifier: false, kernelRemap);
        Report(kernelRemap ? "kernel remap" : "user-space remap", trusted, t);
        r.Machine.Monitor.Violations.ShouldBeEmpty();

        Between(trusted, t.Start, t.SharedFrom).ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        var whileShared = Between(trusted, t.SharedTo, t.PrivateFrom).ToList();
        whileShared.ShouldNotBeEmpty();
        // The shared page is gone from the TDI's table (an IO page fault, not an RMP refusal); the rest of the 2M still works.
        whileShared.Where(d => d.Op.Iova == GuestBase + X).ShouldAllBe(d => d.Outcome == DmaOutcome.Faulted);
        whileShared.Where(d => d.Op.Iova != GuestBase + X).ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        Between(trusted, t.PrivateTo, t.End).ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        Between(trusted, t.PrivateTo, t.End).ShouldContain(d => d.Op.Iova == GuestBase + X);

        Between(untrusted, t.Start, t.PunchFrom).ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        Between(untrusted, t.PunchTo, t.End).ShouldNotBeEmpty();
        Between(untrusted, t.PunchTo, t.End).ShouldAllBe(d => d.Outcome == DmaOutcome.Faulted);

        // The TDI's table: X at 4K again, its neighbours cut below 2M (the RMP run stays 4K once the guest validated it).
        var table = r.Domain(r.PrivateHwpt).Table;
        table.TryLookup(GuestBase + X, out var x).ShouldBeTrue();
        x.Size.ShouldBe(K4);
        table.TryLookup(GuestBase + 0x10_0000, out var far).ShouldBeTrue();
        far.Size.ShouldBeLessThan(M2);
        r.Arch.RmpOrder(x.Oa >> 12).ShouldBe(0);
        r.Pages.TotalPins.ShouldBe(0);
    }

    [Fact]
    public void WithTheNotifierOff_TheRmpRefusesTheSmashedRun_AndTheMonitorCatchesDmaToAFreedFrame()
    {
        var (r, trusted, untrusted, t, yPa) = Run(skipNotifier: true, kernelRemap: true);
        Report("notifier off", trusted, t);

        var whileShared = Between(trusted, t.SharedTo, t.PrivateFrom).ToList();
        whileShared.ShouldNotBeEmpty();
        whileShared.ShouldAllBe(d => d.Outcome == DmaOutcome.RmpRefused);
        whileShared.ShouldAllBe(d => (Flags(d) & RmpFaultFlags.SizeMismatch) != 0, "a 2M I/O page over the smashed run's 4K entries");
        Between(trusted, t.PrivateTo, t.End).ShouldAllBe(d => d.Outcome == DmaOutcome.RmpRefused && (Flags(d) & RmpFaultFlags.SizeMismatch) != 0);

        Between(untrusted, t.PunchTo, t.End).ShouldAllBe(d => d.Outcome == DmaOutcome.Completed);
        var violations = r.Machine.Monitor.Violations;
        violations.ShouldNotBeEmpty();
        violations.ShouldAllBe(v => v.Kind == ViolationKind.DmaReachedFreedFrame && v.DeviceId == Untrusted);
        violations[0].Detail.ShouldBe(yPa);
        violations[0].Address.ShouldBe(GuestBase + Y);
        violations[0].TimeNs.ShouldBeGreaterThanOrEqualTo(t.PunchFrom);
        output.WriteLine($"notifier off: {violations.Count} x {violations[0]}");
    }
}
