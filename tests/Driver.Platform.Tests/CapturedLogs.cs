using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Driver.Platform.Tests;

/// <summary>A logger factory whose every logger records into one <see cref="FakeLogCollector"/>.</summary>
internal sealed class CapturedLogs : ILoggerFactory
{
    public FakeLogCollector Collector { get; } = FakeLogCollector.Create(new FakeLogCollectorOptions());

    public ILogger CreateLogger(string categoryName) => new FakeLogger(Collector, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("records go to the collector only");

    public void Dispose()
    {
    }

    /// <summary>The records with event id <paramref name="id"/>, oldest first.</summary>
    public IReadOnlyList<FakeLogRecord> WithId(int id) => [.. Collector.GetSnapshot().Where(r => r.Id.Id == id)];
}
