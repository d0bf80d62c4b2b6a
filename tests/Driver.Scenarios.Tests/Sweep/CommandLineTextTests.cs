using Driver.Platform.Iommu;
using Driver.Scenarios.Sweep;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Sweep;

public sealed class CommandLineTextTests
{
    [Theory]
    [InlineData(4096UL, "4K")]
    [InlineData(2UL << 20, "2M")]
    [InlineData(64UL << 20, "64M")]
    [InlineData(1UL << 40, "1T")]
    [InlineData(3UL << 30, "3G")]
    [InlineData(1536UL << 10, "1536K")]
    [InlineData(1000UL, "1000")]
    [InlineData(0UL, "0")]
    public void Sizes_take_the_largest_exact_suffix(ulong bytes, string text) => CommandLineText.Size(bytes).ShouldBe(text);

    [Theory]
    [InlineData(10_000_000UL, "10ms")]
    [InlineData(2_000_000_000UL, "2s")]
    [InlineData(1_500UL, "1500ns")]
    [InlineData(1_500_000UL, "1500us")]
    [InlineData(0UL, "0ns")]
    public void Durations_take_the_largest_exact_unit(ulong ns, string text) => CommandLineText.Duration(ns).ShouldBe(text);

    [Fact]
    public void The_replay_command_names_the_cell_the_seed_and_every_workload_option()
    {
        var options = new ScenarioOptions { GuestSize = 1UL << 30, DmaRate = 0.5, UntrustedDevice = true, Pattern = DmaPattern.Random };
        CommandLineText.Replay(options, new CellKey("sequenced", RmpGranularity.AmdToday), 42).ShouldBe(
            "driver run --strategy sequenced --rule AmdToday --guest-size 1G --folio-size 2M --dma-rate 0.5 --dma-bytes 256 --pattern random --conversion-rate 20 --duration 10ms --untrusted --seed 42");
    }
}
