using Driver.Kernel.Kvm;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>The per-2M index of a stage-2 table: one 2M leaf, or 4K leaves with which of them map private memory.</summary>
public sealed class Stage2BlockTests
{
    [Fact]
    public void Empty_IsNeitherA2MLeafNorAny4KLeaf()
    {
        var block = new Stage2Block();
        block.Empty.ShouldBeTrue("a new block maps nothing");
        block.SetHuge(isPrivate: true);
        block.Empty.ShouldBeFalse("a 2M leaf");
        block.ClearHuge();
        block.Empty.ShouldBeTrue("the 2M leaf went");
        block.SetSmall(7, isPrivate: false);
        block.Empty.ShouldBeFalse("one 4K leaf");
        block.ClearSmall(7);
        block.Empty.ShouldBeTrue("its last 4K leaf went");
        block.HasTable.ShouldBeTrue("the 4K table stays when its last leaf goes");
    }

    [Fact]
    public void SetHuge_DropsThe4KTable()
    {
        var block = new Stage2Block();
        block.SetSmall(3, isPrivate: true);
        block.SetHuge(isPrivate: false);
        block.Huge.ShouldBeTrue();
        block.HasTable.ShouldBeFalse("the 2M leaf replaced the table");
        block.SmallCount.ShouldBe(0);
        block.IsMapped(100).ShouldBeTrue();
        block.IsPrivate(3).ShouldBeFalse("the 2M leaf maps shared memory");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SplitHuge_Makes512LeavesOfTheSameState(bool isPrivate)
    {
        var block = new Stage2Block();
        block.SetHuge(isPrivate);
        block.SplitHuge();
        block.Huge.ShouldBeFalse();
        block.HasTable.ShouldBeTrue("Cut puts a 4K table under the entry");
        block.SmallCount.ShouldBe(512);
        foreach (int page in new[] { 0, 63, 64, 300, 511 })
        {
            block.IsMapped(page).ShouldBeTrue($"page {page}");
            block.IsPrivate(page).ShouldBe(isPrivate, $"page {page}");
        }
    }

    [Fact]
    public void SetSmall_TwiceOnOnePage_CountsItOnce_AndKeepsItMapped()
    {
        var block = new Stage2Block();
        block.SetSmall(70, isPrivate: true);
        block.SetSmall(70, isPrivate: true);
        block.SmallCount.ShouldBe(1);
        block.IsMapped(70).ShouldBeTrue();
        block.IsPrivate(70).ShouldBeTrue("mapping it private again keeps it private");
        block.IsMapped(71).ShouldBeFalse();
        block.IsMapped(6).ShouldBeFalse("page 70 is bit 6 of the second word, not of the first");
        block.IsPrivate(6).ShouldBeFalse();
    }

    [Fact]
    public void SetSmall_Shared_ClearsOnlyThatPagesPrivateBit()
    {
        var block = new Stage2Block();
        block.SetSmall(129, isPrivate: false);
        block.SetSmall(128, isPrivate: true);
        block.SetSmall(128, isPrivate: false);
        block.IsPrivate(128).ShouldBeFalse("remapped shared");
        block.IsPrivate(129).ShouldBeFalse("a neighbour mapped shared stays shared");
        block.IsPrivate(130).ShouldBeFalse("an unmapped neighbour is not private");
        block.SmallCount.ShouldBe(2);
    }

    [Fact]
    public void ClearSmall_UnmapsOnlyThatPage()
    {
        var block = new Stage2Block();
        block.SetSmall(200, isPrivate: true);
        block.SetSmall(201, isPrivate: false);
        block.SetSmall(202, isPrivate: true);
        block.ClearSmall(200);
        block.SmallCount.ShouldBe(2);
        block.IsMapped(200).ShouldBeFalse();
        block.IsPrivate(200).ShouldBeFalse("an unmapped page maps no private memory");
        block.IsMapped(201).ShouldBeTrue();
        block.IsPrivate(201).ShouldBeFalse("the shared neighbour stays shared");
        block.IsPrivate(202).ShouldBeTrue("the private neighbour stays private");
    }

    [Fact]
    public void ClearSmall_OfAPageNotMapped_ChangesNothing()
    {
        var fresh = new Stage2Block();
        fresh.ClearSmall(5);
        fresh.SmallCount.ShouldBe(0);
        fresh.Empty.ShouldBeTrue();

        var block = new Stage2Block();
        block.SetSmall(9, isPrivate: true);
        block.ClearSmall(10);
        block.SmallCount.ShouldBe(1, "page 10 was never mapped");
        block.IsMapped(9).ShouldBeTrue();
        block.IsPrivate(9).ShouldBeTrue();
        block.ClearSmall(9);
        block.ClearSmall(9);
        block.SmallCount.ShouldBe(0, "a second clear of the same page counts nothing");
    }
}
