using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Driver.Platform.Tests;

/// <summary>A logger factory whose loggers all record into one collector, at every level.</summary>
internal sealed class Logs
{
    public Logs()
    {
        Factory = new LoggerFactory([new FakeLoggerProvider(Collector)], new LoggerFilterOptions { MinLevel = LogLevel.Trace });
    }

    public FakeLogCollector Collector { get; } = new();

    public ILoggerFactory Factory { get; }

    public IReadOnlyList<FakeLogRecord> All => Collector.GetSnapshot();

    public FakeLogRecord Single(int eventId) => All.Where(r => r.Id.Id == eventId).ShouldHaveSingleItem();

    public int Count(int eventId) => All.Count(r => r.Id.Id == eventId);
}

internal static class FakeLogRecordExtensions
{
    /// <summary>A structured value as the test logger keeps it (a string), parsed back to the number it was.</summary>
    public static ulong Number(this FakeLogRecord record, string key) =>
        ulong.Parse(record.GetStructuredStateValue(key).ShouldNotBeNull(), System.Globalization.CultureInfo.InvariantCulture);

    public static string Value(this FakeLogRecord record, string key) => record.GetStructuredStateValue(key).ShouldNotBeNull();
}
