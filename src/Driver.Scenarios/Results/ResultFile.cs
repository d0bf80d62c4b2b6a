using System.Text.Json;
using Driver.Platform.Iommu;
using Driver.Scenarios.Sweep;

namespace Driver.Scenarios.Results;

/// <summary>
/// The result file of `driver run --out` and `driver merge --out`: the format id and version, the
/// sweep, the shard, and every run's metrics and findings, in a fixed field order with invariant
/// numbers and LF line ends, so that the same sweep gives the same bytes on every machine. Host
/// time, dates and machine names are never written.
/// </summary>
public static class ResultFile
{
    public const string Format = "driver-run-result";

    public const int Version = 1;

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true, NewLine = "\n" };

    public static void Write(Stream stream, SweepResult result)
    {
        using var json = new Utf8JsonWriter(stream, WriterOptions);
        json.WriteStartObject();
        json.WriteString("format", Format);
        json.WriteNumber("version", Version);
        WriteSweep(json, result.Sweep);
        json.WriteStartObject("shard");
        json.WriteNumber("index", result.Shard.Index);
        json.WriteNumber("count", result.Shard.Count);
        json.WriteEndObject();
        json.WriteStartArray("runs");
        foreach (RunResult run in result.Runs)
        {
            json.WriteStartObject();
            json.WriteString("strategy", run.Cell.Strategy);
            json.WriteString("rule", run.Cell.Rule.ToString());
            json.WriteNumber("seed", run.Seed);
            json.WriteStartObject("metrics");
            WriteMetrics(json, run.Metrics);
            json.WriteEndObject();
            json.WriteStartArray("findings");
            foreach (Finding finding in run.Findings)
                WriteFinding(json, finding);
            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }

    public static byte[] ToBytes(SweepResult result)
    {
        using var stream = new MemoryStream();
        Write(stream, result);
        return stream.ToArray();
    }

    /// <summary>The sweep as result files and summaries write it: strategies, rules, seeds and the workload.</summary>
    public static void WriteSweep(Utf8JsonWriter json, SweepDefinition sweep)
    {
        json.WriteStartObject("sweep");
        json.WriteStartArray("strategies");
        foreach (string strategy in sweep.Strategies)
            json.WriteStringValue(strategy);
        json.WriteEndArray();
        json.WriteStartArray("rules");
        foreach (RmpGranularity rule in sweep.Rules)
            json.WriteStringValue(rule.ToString());
        json.WriteEndArray();
        json.WriteNumber("first_seed", sweep.FirstSeed);
        json.WriteNumber("seeds", sweep.SeedCount);
        ScenarioOptions o = sweep.Options;
        json.WriteStartObject("workload");
        json.WriteNumber("guest_size", o.GuestSize);
        json.WriteNumber("folio_size", o.FolioSize);
        json.WriteNumber("dma_rate", o.DmaRate);
        json.WriteNumber("dma_bytes", o.DmaBytes);
        json.WriteString("pattern", CommandLineText.Pattern(o.Pattern));
        json.WriteNumber("conversion_rate", o.ConversionRate);
        json.WriteNumber("duration_ns", o.DurationNs);
        json.WriteBoolean("untrusted_device", o.UntrustedDevice);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    public static void WriteMetrics(Utf8JsonWriter json, RunMetrics metrics)
    {
        foreach (MetricField field in MetricFields.All)
        {
            if (field.IsInteger)
            {
                json.WriteNumber(field.Key, field.GetInteger(metrics));
                continue;
            }

            double value = field.Get(metrics);
            if (!double.IsFinite(value))
                throw new InvalidOperationException("metric " + field.Key + " is " + value + "; the engine must give finite numbers");
            json.WriteNumber(field.Key, value);
        }
    }

    public static void WriteFinding(Utf8JsonWriter json, Finding finding)
    {
        json.WriteStartObject();
        json.WriteString("rule", finding.Rule);
        json.WriteNumber("address", finding.Address);
        json.WriteNumber("time_ns", finding.TimeNs);
        json.WriteString("detail", finding.Detail);
        json.WriteEndObject();
    }

    /// <summary>Reads a result file; anything else is a <see cref="ResultFileException"/> naming <paramref name="name"/>.</summary>
    public static SweepResult Read(Stream stream, string name)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(stream);
        }
        catch (JsonException)
        {
            throw new ResultFileException(name + " is not a result file (not JSON)");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
                throw new ResultFileException(name + " is not a result file (no \"format\": \"" + Format + "\")");
            int version = new Reader(name).Int(root, "version");
            if (version != Version)
                throw new ResultFileException(name + " is a result file of version " + version + "; this driver reads version " + Version);
            return new Reader(name).Result(root);
        }
    }

    /// <summary>Reads fields, turning every missing or mistyped one into a <see cref="ResultFileException"/>.</summary>
    private sealed class Reader(string name)
    {
        public SweepResult Result(JsonElement root)
        {
            SweepDefinition sweep = Sweep(Property(root, "sweep"));
            JsonElement shardElement = Property(root, "shard");
            int index = Int(shardElement, "index");
            int count = Int(shardElement, "count");
            if (count < 1 || index < 0 || index >= count)
                throw Bad("its shard " + index + "/" + count + " is out of range");
            var shard = new Shard(index, count);
            var runs = new List<RunResult>();
            foreach (JsonElement run in Array(root, "runs"))
                runs.Add(Run(run));

            SweepRun[] expected = [.. sweep.Runs().Where(r => shard.Contains(r.Index))];
            if (expected.Length != runs.Count || expected.Zip(runs).Any(p => p.First.Cell != p.Second.Cell || p.First.Seed != p.Second.Seed))
                throw Bad("its runs are not those of shard " + shard + " of its sweep");
            return new SweepResult(sweep, shard, runs);
        }

        private SweepDefinition Sweep(JsonElement element)
        {
            string[] strategies = [.. Array(element, "strategies").Select(e => String(e, "strategies"))];
            RmpGranularity[] rules = [.. Array(element, "rules").Select(e => Rule(String(e, "rules")))];
            ulong firstSeed = UInt64(element, "first_seed");
            int seeds = Int(element, "seeds");
            JsonElement w = Property(element, "workload");
            var options = new ScenarioOptions
            {
                GuestSize = UInt64(w, "guest_size"),
                FolioSize = UInt64(w, "folio_size"),
                DmaRate = Double(w, "dma_rate"),
                DmaBytes = checked((uint)UInt64(w, "dma_bytes")),
                Pattern = Enum.TryParse(String(Property(w, "pattern"), "pattern"), ignoreCase: true, out DmaPattern pattern) ? pattern : throw Bad("its pattern is unknown"),
                ConversionRate = Double(w, "conversion_rate"),
                DurationNs = UInt64(w, "duration_ns"),
                UntrustedDevice = Property(w, "untrusted_device").ValueKind == JsonValueKind.True,
            };
            if (strategies.Length == 0 || rules.Length == 0 || seeds < 1 || ulong.MaxValue - firstSeed < (ulong)(seeds - 1))
                throw Bad("its sweep has no cells or no seeds");
            return new SweepDefinition(options, strategies, rules, firstSeed, seeds);
        }

        private RunResult Run(JsonElement element)
        {
            var cell = new CellKey(String(Property(element, "strategy"), "strategy"), Rule(String(Property(element, "rule"), "rule")));
            ulong seed = UInt64(element, "seed");
            JsonElement metricsElement = Property(element, "metrics");
            var metrics = new RunMetrics();
            foreach (MetricField field in MetricFields.All)
                metrics = field.With(metrics, field.IsInteger ? Long(metricsElement, field.Key) : Double(metricsElement, field.Key));
            var findings = new List<Finding>();
            foreach (JsonElement f in Array(element, "findings"))
                findings.Add(new Finding(String(Property(f, "rule"), "rule"), UInt64(f, "address"), UInt64(f, "time_ns"), String(Property(f, "detail"), "detail")));
            return new RunResult(cell, seed, metrics, findings);
        }

        private RmpGranularity Rule(string text) =>
            Enum.TryParse(text, ignoreCase: false, out RmpGranularity rule) && Enum.IsDefined(rule) ? rule : throw Bad("it names an unknown rule '" + text + "'");

        public JsonElement Property(JsonElement element, string property) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out JsonElement value) ? value : throw Bad("it has no \"" + property + "\"");

        private JsonElement.ArrayEnumerator Array(JsonElement element, string property)
        {
            JsonElement value = Property(element, property);
            return value.ValueKind == JsonValueKind.Array ? value.EnumerateArray() : throw Bad("its \"" + property + "\" is not a list");
        }

        private string String(JsonElement element, string what) =>
            element.ValueKind == JsonValueKind.String ? element.GetString()! : throw Bad("its \"" + what + "\" is not text");

        public int Int(JsonElement element, string property) =>
            Number(element, property).TryGetInt32(out int value) ? value : throw Bad("its \"" + property + "\" is not a whole number");

        private long Long(JsonElement element, string property) =>
            Number(element, property).TryGetInt64(out long value) ? value : throw Bad("its \"" + property + "\" is not a whole number");

        private ulong UInt64(JsonElement element, string property) =>
            Number(element, property).TryGetUInt64(out ulong value) ? value : throw Bad("its \"" + property + "\" is not a whole number");

        private double Double(JsonElement element, string property)
        {
            JsonElement value = Property(element, property);
            return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double number) ? number : throw Bad("its \"" + property + "\" is not a number");
        }

        private JsonElement Number(JsonElement element, string property)
        {
            JsonElement value = Property(element, property);
            return value.ValueKind == JsonValueKind.Number ? value : throw Bad("its \"" + property + "\" is not a whole number");
        }

        private ResultFileException Bad(string problem) => new(name + " is not a valid result file: " + problem);
    }
}
