using Driver.Scenarios.Engine;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Actors;

/// <summary>Which pages are in a conversion and which blocks hold one: what the devices' targets steer by.</summary>
public sealed class ConversionStateTests
{
    // Three blocks and a half: 1,792 pages.
    private static readonly GuestLayout Layout = new(0x1_0000_0000, 7UL << 20, hugeFolios: false);

    [Fact]
    public void APageIsBusyFromBeginToEnd_AndNoOtherPageIs()
    {
        var state = new ConversionState(Layout);
        state.Begin(63);
        state.Begin(64);
        state.Begin(1791);
        Enumerable.Range(0, (int)Layout.Pages).Where(p => state.IsBusy((ulong)p)).ShouldBe([63, 64, 1791]);
        state.End(64);
        state.IsBusy(63).ShouldBeTrue();
        state.IsBusy(64).ShouldBeFalse();
        state.End(63);
        state.End(1791);
        Enumerable.Range(0, (int)Layout.Pages).ShouldAllBe(p => !state.IsBusy((ulong)p));
    }

    [Fact]
    public void ABlockIsHotWhileAnyOfItsPagesIsBusy_InTheOrderItsFirstOneBegan()
    {
        var state = new ConversionState(Layout);
        state.LastBlock.ShouldBe(-1);
        state.HotBlocks.ShouldBeEmpty();
        state.Begin(1500);  // block 2
        state.Begin(10);    // block 0
        state.Begin(11);
        state.Begin(1501);
        state.HotBlocks.ShouldBe([2, 0]);
        state.LastBlock.ShouldBe(2);
        state.End(10);
        state.HotBlocks.ShouldBe([2, 0]);
        state.End(11);
        state.HotBlocks.ShouldBe([2]);
        state.End(1500);
        state.End(1501);
        state.HotBlocks.ShouldBeEmpty();
        // The latest block stays the latest after its conversions end.
        state.LastBlock.ShouldBe(2);
        state.Begin(600);
        state.LastBlock.ShouldBe(1);
        state.HotBlocks.ShouldBe([1]);
    }

    [Fact]
    public void SharedPages_AreKeptInTheOrderTheyWereShared()
    {
        var state = new ConversionState(Layout);
        state.AddShared(9);
        state.AddShared(3);
        state.AddShared(700);
        state.RemoveShared(3);
        state.Shared.ShouldBe([9UL, 700UL]);
    }
}
