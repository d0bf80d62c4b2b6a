using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Shouldly;

namespace Driver.Kernel.Tests.Support;

/// <summary>A logger factory whose every logger records into one <see cref="FakeLogCollector"/>.</summary>
internal sealed class CapturedLogs : ILoggerFactory
{
    public FakeLogCollector Collector { get; } = FakeLogCollector.Create(new FakeLogCollectorOptions());

    public IReadOnlyList<FakeLogRecord> All => Collector.GetSnapshot();

    public ILogger CreateLogger(string categoryName) => new FakeLogger(Collector, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("records go to the collector only");

    public void Dispose()
    {
    }

    /// <summary>The one record with event id <paramref name="id"/>, checked for its level.</summary>
    public FakeLogRecord Single(int id, LogLevel level)
    {
        var records = All.Where(r => r.Id.Id == id).ToList();
        records.Count.ShouldBe(1, $"records with id {id}: {string.Join("; ", All.Select(r => $"{r.Id.Id} {r.Message}"))}");
        records[0].Level.ShouldBe(level);
        return records[0];
    }

    /// <summary>A structured value as the record holds it (a string), for a number.</summary>
    public static string Value(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Value(int value) => value.ToString(CultureInfo.InvariantCulture);
}
