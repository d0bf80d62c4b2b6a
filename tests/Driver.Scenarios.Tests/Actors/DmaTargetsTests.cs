using Driver.Scenarios.Actors;
using Driver.Scenarios.Engine;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests.Actors;

/// <summary>Where the trusted device's transactions go: by pattern, aligned inside one page, never into a page in conversion.</summary>
public sealed class DmaTargetsTests
{
    private const ulong Base = 0x1_0000_0000;
    private const ulong Page = GuestLayout.Page4K;

    // Two blocks and a quarter (a partial last block): 1,152 pages.
    private static readonly GuestLayout Layout = new(Base, (4UL << 20) + (512UL << 10), hugeFolios: false);

    private static ulong PageOf(ulong gpa) => (gpa - Base) / Page;

    private static List<ulong> Draw(DmaTargets targets, int count) => Enumerable.Range(0, count).Select(_ => targets.Next()).ToList();

    [Fact]
    public void Sequential_WalksThePagesInOrder_AndWraps()
    {
        var targets = new DmaTargets(Layout, new ConversionState(Layout), DmaPattern.Sequential, 4096, seed: 1);
        var pages = Draw(targets, (int)Layout.Pages + 3).Select(PageOf).ToList();
        pages.Take((int)Layout.Pages).ShouldBe(Enumerable.Range(0, (int)Layout.Pages).Select(p => (ulong)p));
        pages.Skip((int)Layout.Pages).ShouldBe([0UL, 1UL, 2UL]);
    }

    [Theory]
    [InlineData(4096u, 4096UL)]
    [InlineData(100u, 128UL)]
    [InlineData(64u, 64UL)]
    [InlineData(8u, 8UL)]
    public void Transactions_AreAlignedToTheirSizeRoundedUp_AndUseEverySlotOfAPage(uint bytes, ulong aligned)
    {
        var targets = new DmaTargets(Layout, new ConversionState(Layout), DmaPattern.Random, bytes, seed: 2);
        var offsets = Draw(targets, 20_000).Select(gpa => gpa % Page).ToList();
        offsets.ShouldAllBe(o => o % aligned == 0 && o + bytes <= Page);
        ulong slots = Page / aligned;
        offsets.Distinct().Count().ShouldBe((int)slots);
        if (slots > 1)
            offsets.Max().ShouldBe(Page - aligned);
    }

    [Fact]
    public void Random_CoversTheWholeGuest_AndNothingBeyond()
    {
        var targets = new DmaTargets(Layout, new ConversionState(Layout), DmaPattern.Random, 4096, seed: 3);
        var pages = Draw(targets, 20_000).Select(PageOf).ToList();
        pages.ShouldAllBe(p => p < Layout.Pages);
        pages.Distinct().Count().ShouldBeGreaterThan((int)Layout.Pages * 9 / 10);
    }

    [Fact]
    public void ABusyPage_SendsTheTransactionToTheNextFreePageOfItsBlock_WrappingInsideIt()
    {
        var state = new ConversionState(Layout);
        var targets = new DmaTargets(Layout, state, DmaPattern.Sequential, 4096, seed: 4);
        state.Begin(0);
        state.Begin(1);
        PageOf(targets.Next()).ShouldBe(2UL);  // the cursor's page 0 is busy, and 1 next to it
        // The last page of block 0 busy: the search wraps to the block's own start, not into block 1.
        var second = new DmaTargets(Layout, state, DmaPattern.Sequential, 4096, seed: 4);
        for (ulong p = 2; p < 512; p++)
            state.Begin(p);
        state.End(0);
        for (int i = 0; i < 511; i++)
            second.Next();
        PageOf(second.Next()).ShouldBe(0UL);
    }

    [Fact]
    public void AWholeBlockBusy_SendsTheTransactionOnToTheNextFreePage_AndAllBusyLeavesItWhereItWas()
    {
        var state = new ConversionState(Layout);
        for (ulong p = 1024; p < Layout.Pages; p++)
            state.Begin(p);
        var targets = new DmaTargets(Layout, state, DmaPattern.Sequential, 4096, seed: 5);
        for (int i = 0; i < 1030; i++)
            targets.Next();
        // Page 1030 is in the busy last block: the next free page after it wraps round the guest to 0.
        PageOf(targets.Next()).ShouldBe(0UL);
        for (ulong p = 0; p < 1024; p++)
            state.Begin(p);
        PageOf(targets.Next()).ShouldBe(1031UL);
    }

    [Fact]
    public void Hotspot_AimsMostTransactionsAtTheBlocksInConversion()
    {
        var state = new ConversionState(Layout);
        state.Begin(1100);  // the partial last block, block 2
        var targets = new DmaTargets(Layout, state, DmaPattern.Hotspot, 4096, seed: 6);
        var pages = Draw(targets, 10_000).Select(PageOf).ToList();
        pages.ShouldAllBe(p => p < Layout.Pages && p != 1100);
        double inHot = pages.Count(p => p >= 1024) / 10_000.0;
        // 90 % aimed there, plus the uniform tenth's share of it (128 of 1,152 pages).
        inHot.ShouldBeInRange(0.88, 0.93);
        // Within the block, every page is a target.
        pages.Where(p => p >= 1024).Distinct().Count().ShouldBe(127);
    }

    [Fact]
    public void Hotspot_BetweenConversions_AimsAtTheLatestBlock_AndBeforeAnyAtTheFirst()
    {
        var state = new ConversionState(Layout);
        var first = new DmaTargets(Layout, state, DmaPattern.Hotspot, 4096, seed: 7);
        Draw(first, 10_000).Select(PageOf).Count(p => p < 512).ShouldBeGreaterThan(9_000);
        state.Begin(700);
        state.End(700);
        var later = new DmaTargets(Layout, state, DmaPattern.Hotspot, 4096, seed: 7);
        var pages = Draw(later, 10_000).Select(PageOf).ToList();
        pages.Count(p => p is >= 512 and < 1024).ShouldBeGreaterThan(9_000);
    }
}
