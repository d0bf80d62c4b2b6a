using Driver.Platform.Iommu;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>The timeline and the metrics of one run count the same events: each transaction, fault, stall and exit once.</summary>
public sealed class RunAccountingTests
{
    public static TheoryData<string, RmpGranularity> Cells()
    {
        var data = new TheoryData<string, RmpGranularity>();
        foreach (var cell in Workloads.AllCells())
            data.Add(cell.Strategy, cell.Rule);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cells))]
    public void TheTimeline_AndTheMetrics_CountTheSameEvents(string strategy, RmpGranularity rule)
    {
        var trace = new RecordingSink();
        var m = new ScenarioEngine().Run(Workloads.Small with { UntrustedDevice = true }, new CellKey(strategy, rule), 3, trace).Metrics;
        int Spans(string actor, string name) => trace.Spans.Count(s => s.Actor == actor && s.Name == name);
        int Instants(string actor, string name) => trace.Instants.Count(i => i.Actor == actor && i.Name == name);

        Spans("tdi", "dma").ShouldBe((int)m.DmaCompleted);
        trace.Spans.Where(s => s.Name == "dma").ShouldAllBe(s => s.Duration >= 1);
        Instants("tdi", "rmp-fault").ShouldBe((int)m.DmaRmpFaults);
        Instants("tdi", "io-page-fault").ShouldBe((int)m.DmaPageFaults);
        m.DmaFaulted.ShouldBe(m.DmaRmpFaults + m.DmaPageFaults);
        trace.Instants.Where(i => i.Name.EndsWith("fault")).ShouldAllBe(i => i.Detail!.StartsWith("0x"));

        var stalls = trace.Spans.Where(s => s.Actor == "tdi" && s.Name == "stall").ToList();
        stalls.Count.ShouldBe((int)m.DmaStalled);
        (stalls.Count == 0 ? 0 : stalls.Max(s => (long)s.Duration)).ShouldBe(m.StallMaxNs);

        Spans("untrusted", "dma").ShouldBe((int)m.UntrustedDmaCompleted);
        (Instants("untrusted", "rmp-fault") + Instants("untrusted", "io-page-fault")).ShouldBe((int)m.UntrustedDmaFaulted);

        m.ConversionsFailed.ShouldBe(0);
        Spans("vmm", "to-private").ShouldBe((int)m.Conversions);
        (Spans("vmm", "to-shared") - (int)m.Conversions).ShouldBeInRange(0, 1);
        Spans("vmm", "to-shared").ShouldBeGreaterThan(0);
        // fw-smash's firmware call takes milliseconds: no round trip of its ends inside this run's one.
        if (strategy != StrategyNames.FwSmash)
        {
            m.Conversions.ShouldBeGreaterThan(10);
            m.ConversionP50Ns.ShouldBeGreaterThan(0);
        }
        // A cold IOTLB misses and a warm one hits.
        m.IotlbMissRate.ShouldBeGreaterThan(0);
        m.IotlbMissRate.ShouldBeLessThan(1);
    }

    [Fact]
    public void AStallStillHeldAtTheEnd_CountsUpToTheEnd()
    {
        // fw-smash holds the device for most of a conversion: in some seed's run the end comes during one.
        var options = Workloads.Small with { DurationNs = 200_000 };
        for (ulong seed = 1; seed <= 40; seed++)
        {
            var trace = new RecordingSink();
            var m = new ScenarioEngine().Run(options, new CellKey(StrategyNames.FwSmash, RmpGranularity.AmdToday), seed, trace).Metrics;
            var stalls = trace.Spans.Where(s => s.Actor == "tdi" && s.Name == "stall").ToList();
            stalls.Count.ShouldBe((int)m.DmaStalled);
            var atEnd = stalls.Where(s => s.Detail!.EndsWith("(at the end)")).ToList();
            if (atEnd.Count == 0)
                continue;
            atEnd.Count.ShouldBe(1);
            ulong end = atEnd[0].Start + atEnd[0].Duration;
            trace.Spans.Where(s => s.Actor == "tdi").ShouldAllBe(s => s.Start + s.Duration <= end);
            stalls.Max(s => (long)s.Duration).ShouldBe(m.StallMaxNs);
            return;
        }
        throw new ShouldAssertException("no run of 40 seeds ended during a stall");
    }
}
