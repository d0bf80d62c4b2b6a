using Driver.Scenarios.Engine;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>Each rule of a workload at its edge: the last value that runs, the first that does not, and the line that says why.</summary>
public sealed class OptionsCheckTests
{
    private static readonly ScenarioOptions Good = Workloads.Small;

    [Fact]
    public void TheEdgesThatRun_HaveNoProblem()
    {
        ScenarioOptionsCheck.Problem(Good with { DmaBytes = 4096 }).ShouldBeNull();
        ScenarioOptionsCheck.Problem(Good with { DmaBytes = 1 }).ShouldBeNull();
        ScenarioOptionsCheck.Problem(Good with { DurationNs = long.MaxValue / 4 }).ShouldBeNull();
        ScenarioOptionsCheck.Problem(Good with { ConversionRate = double.Epsilon, DmaRate = double.Epsilon }).ShouldBeNull();
        ScenarioOptionsCheck.Problem(Good with { FolioSize = 0x1000, GuestSize = 0x1000 }).ShouldBeNull();
    }

    [Theory]
    [InlineData("folio", "folio size 65536 is neither 4 KiB nor 2 MiB")]
    [InlineData("guest", "guest size 3145728 is not a non-zero multiple of the folio size 2097152")]
    [InlineData("dma-rate", "DMA rate 0 is not above 0")]
    [InlineData("dma-rate-nan", "DMA rate NaN is not above 0")]
    [InlineData("conversion-rate", "conversion rate 0 is not above 0")]
    [InlineData("conversion-rate-infinite", "conversion rate Infinity is not above 0")]
    [InlineData("dma-bytes", "DMA size 4097 is not 1 to 4096 bytes")]
    [InlineData("dma-bytes-zero", "DMA size 0 is not 1 to 4096 bytes")]
    [InlineData("duration", "duration 2305843009213693952 ns is out of range")]
    [InlineData("duration-zero", "duration 0 ns is out of range")]
    public void TheFirstValueThatCannotRun_IsNamed(string rule, string problem)
    {
        var options = rule switch
        {
            "folio" => Good with { FolioSize = 0x10000 },
            "guest" => Good with { GuestSize = 3UL << 20 },
            "dma-rate" => Good with { DmaRate = 0 },
            "dma-rate-nan" => Good with { DmaRate = double.NaN },
            "conversion-rate" => Good with { ConversionRate = 0 },
            "conversion-rate-infinite" => Good with { ConversionRate = double.PositiveInfinity },
            "dma-bytes" => Good with { DmaBytes = 4097 },
            "dma-bytes-zero" => Good with { DmaBytes = 0 },
            "duration" => Good with { DurationNs = (ulong)(long.MaxValue / 4) + 1 },
            _ => Good with { DurationNs = 0 },
        };
        ScenarioOptionsCheck.Problem(options).ShouldBe(problem);
    }

    [Fact]
    public void NoOptions_IsABug() => Should.Throw<ArgumentNullException>(() => ScenarioOptionsCheck.Problem(null!));

    [Fact]
    public void AnUnknownStrategy_IsRefusedWithTheKnownOnes() =>
        Should.Throw<ArgumentException>(() => Strategies.Strategies.Create("hope")).Message
            .ShouldStartWith($"unknown strategy 'hope' (known: {string.Join(", ", StrategyNames.All)})");
}
