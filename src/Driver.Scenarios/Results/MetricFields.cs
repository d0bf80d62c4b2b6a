namespace Driver.Scenarios.Results;

/// <summary>
/// Every <see cref="RunMetrics"/> value in the order every output lists them. A new metric is one
/// line here (a test fails while a property of <see cref="RunMetrics"/> has no line).
/// </summary>
public static class MetricFields
{
    public static IReadOnlyList<MetricField> All { get; } =
    [
        MetricField.Integer("dma_completed", "DMA ok", MetricUnit.Count, true, m => m.DmaCompleted, (m, v) => m with { DmaCompleted = v }),
        MetricField.Integer("dma_faulted", "faulted", MetricUnit.Count, true, m => m.DmaFaulted, (m, v) => m with { DmaFaulted = v }),
        MetricField.Integer("dma_rmp_faults", "RMP faults", MetricUnit.Count, false, m => m.DmaRmpFaults, (m, v) => m with { DmaRmpFaults = v }),
        MetricField.Integer("dma_page_faults", "IO page faults", MetricUnit.Count, false, m => m.DmaPageFaults, (m, v) => m with { DmaPageFaults = v }),
        MetricField.Integer("dma_stalled", "stalled", MetricUnit.Count, false, m => m.DmaStalled, (m, v) => m with { DmaStalled = v }),
        MetricField.Integer("stall_p50_ns", "stall p50", MetricUnit.Nanoseconds, false, m => m.StallP50Ns, (m, v) => m with { StallP50Ns = v }, sampledBy: "dma_stalled"),
        MetricField.Integer("stall_p99_ns", "stall p99", MetricUnit.Nanoseconds, true, m => m.StallP99Ns, (m, v) => m with { StallP99Ns = v }, sampledBy: "dma_stalled"),
        MetricField.Integer("stall_max_ns", "stall max", MetricUnit.Nanoseconds, false, m => m.StallMaxNs, (m, v) => m with { StallMaxNs = v }, sampledBy: "dma_stalled"),
        MetricField.Integer("security_violations", "violations", MetricUnit.Count, true, m => m.SecurityViolations, (m, v) => m with { SecurityViolations = v }),
        MetricField.Integer("conversions", "conversions", MetricUnit.Count, false, m => m.Conversions, (m, v) => m with { Conversions = v }),
        MetricField.Integer("conversions_failed", "conv failed", MetricUnit.Count, false, m => m.ConversionsFailed, (m, v) => m with { ConversionsFailed = v }),
        MetricField.Integer("conversion_p50_ns", "conv p50", MetricUnit.Nanoseconds, true, m => m.ConversionP50Ns, (m, v) => m with { ConversionP50Ns = v }, sampledBy: "conversions"),
        MetricField.Integer("conversion_p99_ns", "conv p99", MetricUnit.Nanoseconds, true, m => m.ConversionP99Ns, (m, v) => m with { ConversionP99Ns = v }, sampledBy: "conversions"),
        MetricField.Integer("iotlb_flushes", "flushes", MetricUnit.Count, true, m => m.IotlbFlushes, (m, v) => m with { IotlbFlushes = v }),
        MetricField.Integer("commands_issued", "commands", MetricUnit.Count, false, m => m.CommandsIssued, (m, v) => m with { CommandsIssued = v }),
        MetricField.Integer("firmware_commands", "FW commands", MetricUnit.Count, false, m => m.FirmwareCommands, (m, v) => m with { FirmwareCommands = v }),
        MetricField.Integer("rmp_updates", "RMPUPDATE", MetricUnit.Count, true, m => m.RmpUpdates, (m, v) => m with { RmpUpdates = v }),
        MetricField.Integer("psmashes", "PSMASH", MetricUnit.Count, true, m => m.Psmashes, (m, v) => m with { Psmashes = v }),
        MetricField.Integer("io_page_table_pages", "IOPT pages", MetricUnit.Count, true, m => m.IoPageTablePages, (m, v) => m with { IoPageTablePages = v }),
        MetricField.Real("iotlb_miss_rate", "IOTLB miss", MetricUnit.Ratio, false, m => m.IotlbMissRate, (m, v) => m with { IotlbMissRate = v }),
        MetricField.Real("dma_throughput_gbps", "GB/s", MetricUnit.GigabytesPerSecond, true, m => m.DmaThroughputGBps, (m, v) => m with { DmaThroughputGBps = v }),
        MetricField.Integer("untrusted_dma_completed", "untrusted ok", MetricUnit.Count, false, m => m.UntrustedDmaCompleted, (m, v) => m with { UntrustedDmaCompleted = v }),
        MetricField.Integer("untrusted_dma_faulted", "untrusted faulted", MetricUnit.Count, false, m => m.UntrustedDmaFaulted, (m, v) => m with { UntrustedDmaFaulted = v }),
    ];

    /// <summary>A <see cref="MetricField.SampledBy"/> names a count metric; a test checks each does.</summary>
    public static MetricField Get(string key) => All.FirstOrDefault(f => f.Key == key) ?? throw new ArgumentException("no metric '" + key + "'", nameof(key));
}
