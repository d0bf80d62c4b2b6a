using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

public sealed class GatherAndBitmapTests
{
    [Fact]
    public void Gather_GrowsOneRange()
    {
        var gather = new IotlbGather();
        gather.IsEmpty.ShouldBeTrue();
        gather.HasRange.ShouldBeFalse();
        gather.IsDisjoint(0, 4096).ShouldBeFalse();
        gather.AddRange(0x10000, 0x1000);
        (gather.Start, gather.End).ShouldBe((0x10000UL, 0x10FFFUL));
        gather.AddRange(0x8000, 0x1000);
        (gather.Start, gather.End).ShouldBe((0x8000UL, 0x10FFFUL));
        gather.IsEmpty.ShouldBeFalse();
        Should.Throw<ArgumentOutOfRangeException>(() => gather.AddRange(0, 0)).Message.ShouldContain("empty range");
        var oneByte = new IotlbGather();
        oneByte.AddRange(5, 1);
        oneByte.HasRange.ShouldBeTrue();
    }

    [Theory]
    [InlineData(0x11000UL, 0x1000UL, false)]
    [InlineData(0x12000UL, 0x1000UL, true)]
    [InlineData(0xF000UL, 0x1000UL, false)]
    [InlineData(0xE000UL, 0x1000UL, true)]
    [InlineData(0x10800UL, 0x10UL, false)]
    [InlineData(0UL, 0x10000UL, false)]
    [InlineData(0xE000UL, 0x1FFFUL, true)]
    public void Gather_Disjoint_MeansNeitherOverlappingNorTouching(ulong iova, ulong length, bool disjoint)
    {
        var gather = new IotlbGather();
        gather.AddRange(0x10000, 0x1000);
        gather.IsDisjoint(iova, length).ShouldBe(disjoint);
    }

    [Fact]
    public void Gather_AtTheEndsOfTheAddressSpace()
    {
        var gather = new IotlbGather();
        gather.AddRange(0, 0x1000);
        gather.IsDisjoint(ulong.MaxValue - 0xFFF, 0x1000).ShouldBeTrue();
        gather.AddRange(ulong.MaxValue - 0xFFF, 0x1000);
        gather.End.ShouldBe(ulong.MaxValue);
        gather.IsDisjoint(0x5000, 0x1000).ShouldBeFalse();

        var top = new IotlbGather();
        top.AddRange(ulong.MaxValue - 0xFFF, 0x1000);
        top.IsDisjoint(0, 0x1000).ShouldBeTrue();
        top.IsDisjoint(ulong.MaxValue - 0x1FFF, 0x1000).ShouldBeFalse();
    }

    [Fact]
    public void Bitmap_MarksPagesClippedToItsWindow()
    {
        var bitmap = new IovaBitmap(0x100000, 0x10000);
        bitmap.Pages.ShouldBe(16UL);
        bitmap.Set(0xFF000, 0x2000);
        bitmap.IsSet(0x100000).ShouldBeTrue();
        bitmap.IsSet(0xFF000).ShouldBeFalse();
        bitmap.IsSet(0x101000).ShouldBeFalse();
        bitmap.Set(0x10F800, 0x10000);
        bitmap.IsSet(0x10F000).ShouldBeTrue();
        bitmap.IsSet(0x110000).ShouldBeFalse();
        bitmap.Set(0x200000, 0x1000);
        bitmap.Set(0x0, 0x1000);
        bitmap.Set(0x105000, 0);
        bitmap.Count().ShouldBe(2UL);
        bitmap.Iova.ShouldBe(0x100000UL);
        bitmap.Length.ShouldBe(0x10000UL);
        bitmap.PageLg2.ShouldBe(12);
        Should.Throw<ArgumentException>(() => new IovaBitmap(0x800, 0x1000)).Message.ShouldContain("whole, non-empty pages");
        Should.Throw<ArgumentException>(() => new IovaBitmap(0, 0));
        Should.Throw<ArgumentException>(() => new IovaBitmap(0, 0x1000, 64));
        new IovaBitmap(0, 0x200000, 21).Pages.ShouldBe(1UL);
        new IovaBitmap(0, 3, 0).Pages.ShouldBe(3UL);
        new IovaBitmap(0, 1UL << 63, 63).Pages.ShouldBe(1UL);

        // Ranges that just touch the window mark its edge pages; marking twice keeps the mark.
        var edges = new IovaBitmap(0x100000, 0x10000);
        edges.Set(0x100000 - 0xFFF, 0x1000);
        edges.Set(0x10FFFF, 1);
        edges.Set(0x10FFFF, 1);
        edges.IsSet(0x100000).ShouldBeTrue();
        edges.IsSet(0x10F000).ShouldBeTrue();
        edges.IsSet(0x110000).ShouldBeFalse();
        edges.Count().ShouldBe(2UL);
    }
}
