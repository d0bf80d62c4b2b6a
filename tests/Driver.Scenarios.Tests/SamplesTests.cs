using Driver.Scenarios.Metrics;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

public class SamplesTests
{
    [Fact]
    public void Percentiles_AreNearestRank()
    {
        var samples = new Samples();
        for (int i = 100; i >= 1; i--)
            samples.Add(i * 10);
        samples.Percentile(50).ShouldBe(500);
        samples.Percentile(99).ShouldBe(990);
        samples.Percentile(100).ShouldBe(1000);
        samples.Percentile(0).ShouldBe(10);
        samples.Max().ShouldBe(1000);
        samples.Count.ShouldBe(100);
    }

    [Fact]
    public void NoSamples_AreZero()
    {
        var samples = new Samples();
        samples.Percentile(99).ShouldBe(0);
        samples.Max().ShouldBe(0);
    }

    [Fact]
    public void OneSample_IsEveryPercentile()
    {
        var samples = new Samples();
        samples.Add(42);
        samples.Percentile(1).ShouldBe(42);
        samples.Percentile(99).ShouldBe(42);
    }
}
