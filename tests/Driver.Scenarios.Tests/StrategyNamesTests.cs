using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

public class StrategyNamesTests
{
    [Fact]
    public void The_five_strategies_are_listed_once_each_in_table_order() =>
        StrategyNames.All.ShouldBe(["force-4k", "sequenced", "fw-smash", "gmem-notify", "mirrored-s2"]);
}
