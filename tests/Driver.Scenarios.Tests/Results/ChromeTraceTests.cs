using System.Text.Json;
using Driver.Platform.Iommu;
using Driver.Scenarios.Results;
using Driver.TestSupport;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Results;

/// <summary>The trace file parses as JSON and has the shape Perfetto's trace-event importer reads.</summary>
public sealed class ChromeTraceTests
{
    [Fact]
    public void A_trace_has_a_process_per_run_a_named_thread_per_actor_and_microsecond_times()
    {
        var engine = new FakeScenarioEngine((_, seed) => seed == 2);
        var options = new ScenarioOptions { DurationNs = 100_000 };
        var runs = new List<(RunResult, IReadOnlyList<TraceEvent>)>();
        foreach (ulong seed in new ulong[] { 1, 2 })
        {
            var sink = new RecordingTraceSink();
            RunResult run = engine.Run(options, new CellKey("sequenced", RmpGranularity.AmdToday), seed, sink);
            runs.Add((run, sink.Events));
        }

        var stream = new MemoryStream();
        ChromeTrace.Write(stream, runs);
        using JsonDocument doc = JsonDocument.Parse(stream.ToArray());
        JsonElement[] events = [.. doc.RootElement.GetProperty("traceEvents").EnumerateArray()];
        events.ShouldAllBe(e => e.GetProperty("pid").GetInt32() >= 1 && e.GetProperty("tid").GetInt32() >= 0);
        events.Where(e => e.GetProperty("name").GetString() == "process_name").Select(e => e.GetProperty("args").GetProperty("name").GetString())
            .ShouldBe(["sequenced/AmdToday seed 1", "sequenced/AmdToday seed 2"]);
        JsonElement[] threads = [.. events.Where(e => e.GetProperty("name").GetString() == "thread_name")];
        threads.Select(e => e.GetProperty("args").GetProperty("name").GetString()).ShouldContain("vmm");
        threads.Select(e => e.GetProperty("args").GetProperty("name").GetString()).ShouldContain("monitor");

        // Every event is on a thread its process named.
        foreach (JsonElement e in events.Where(e => e.GetProperty("ph").GetString() is "X" or "i"))
        {
            threads.ShouldContain(t => t.GetProperty("pid").GetInt32() == e.GetProperty("pid").GetInt32() && t.GetProperty("tid").GetInt32() == e.GetProperty("tid").GetInt32());
            e.GetProperty("ts").GetDouble().ShouldBeGreaterThanOrEqualTo(0);
        }

        JsonElement span = events.First(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("name").GetString() == "convert to shared");
        span.GetProperty("dur").GetDouble().ShouldBeGreaterThan(0);
        span.GetProperty("args").GetProperty("detail").GetString().ShouldBe("gfn 0");
        JsonElement violation = events.Single(e => e.GetProperty("name").GetString() == "violation");
        violation.GetProperty("ph").GetString().ShouldBe("i");
        violation.GetProperty("s").GetString().ShouldBe("t");
        violation.GetProperty("ts").GetDouble().ShouldBe(12.345);
    }

    [Theory]
    [InlineData(0UL, "0.000")]
    [InlineData(1UL, "0.001")]
    [InlineData(1_234_567UL, "1234.567")]
    public void Nanoseconds_become_exact_microseconds(ulong ns, string text) => ChromeTrace.Microseconds(ns).ShouldBe(text);
}
