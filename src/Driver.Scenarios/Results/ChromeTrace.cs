using System.Globalization;
using System.Text.Json;

namespace Driver.Scenarios.Results;

/// <summary>
/// Chrome's trace-event JSON, which Perfetto and chrome://tracing open: one process per (cell, seed)
/// run, named by process_name metadata, and one thread per actor in it, named by thread_name;
/// spans are complete events (ph X) and instants thread-scoped instant events (ph i). Timestamps are
/// microseconds; the simulated nanoseconds are written exactly as decimals with three places.
/// </summary>
public static class ChromeTrace
{
    public static void Write(Stream stream, IEnumerable<(RunResult Run, IReadOnlyList<TraceEvent> Events)> runs)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        json.WriteStartObject();
        json.WriteStartArray("traceEvents");
        int pid = 0;
        foreach ((RunResult run, IReadOnlyList<TraceEvent> events) in runs)
        {
            pid++;
            Metadata(json, "process_name", pid, 0, run.Cell + " seed " + run.Seed.ToString(CultureInfo.InvariantCulture));
            Metadata(json, "process_sort_index", pid, 0, null, pid);
            var threads = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (TraceEvent e in events)
            {
                if (!threads.TryGetValue(e.Actor, out int tid))
                {
                    tid = threads.Count + 1;
                    threads.Add(e.Actor, tid);
                    Metadata(json, "thread_name", pid, tid, e.Actor);
                }

                json.WriteStartObject();
                json.WriteString("name", e.Name);
                json.WriteString("cat", e.Actor);
                json.WriteString("ph", e.IsSpan ? "X" : "i");
                json.WritePropertyName("ts");
                json.WriteRawValue(Microseconds(e.TimeNs), skipInputValidation: true);
                if (e.IsSpan)
                {
                    json.WritePropertyName("dur");
                    json.WriteRawValue(Microseconds(e.DurationNs), skipInputValidation: true);
                }
                else
                {
                    json.WriteString("s", "t");
                }

                json.WriteNumber("pid", pid);
                json.WriteNumber("tid", tid);
                if (e.Detail != null)
                {
                    json.WriteStartObject("args");
                    json.WriteString("detail", e.Detail);
                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }
        }

        json.WriteEndArray();
        json.WriteString("displayTimeUnit", "ns");
        json.WriteEndObject();
    }

    private static void Metadata(Utf8JsonWriter json, string name, int pid, int tid, string? text, int? sortIndex = null)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("ph", "M");
        json.WriteNumber("pid", pid);
        json.WriteNumber("tid", tid);
        json.WriteStartObject("args");
        if (text != null)
            json.WriteString("name", text);
        if (sortIndex != null)
            json.WriteNumber("sort_index", sortIndex.Value);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>Nanoseconds as microseconds, exactly: 1234567 ns is 1234.567.</summary>
    public static string Microseconds(ulong ns) =>
        (ns / 1000).ToString(CultureInfo.InvariantCulture) + "." + (ns % 1000).ToString("D3", CultureInfo.InvariantCulture);
}
