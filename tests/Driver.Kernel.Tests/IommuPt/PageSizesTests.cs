using Driver.Kernel.IommuPt;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

public sealed class PageSizesTests
{
    // The definition, one candidate at a time.
    private static int BruteForce(ulong bitmap, ulong va, ulong last, ulong oa)
    {
        int best = 0;
        for (int lg2 = 1; lg2 < 64; lg2++)
        {
            ulong size = 1UL << lg2;
            bool fits = size - 1 <= last - va;
            bool aligned = ((va | oa) & (size - 1)) == 0;
            if ((bitmap & size) != 0 && fits && aligned)
                best = lg2;
        }
        return best;
    }

    [Fact]
    public void BestLg2_MatchesBruteForce()
    {
        var gen =
            from bitmap in Gen.Elements(0x40201000UL, 0xFFFF_FFFF_F000UL, 0x7FFF_FFFF_FFFF_F000UL, 0x1F_F000UL, 1UL << 63, 0UL, 0x8000_0000_0020_1000UL)
            from vaShift in Gen.Choose(0, 63)
            from vaBits in Gen.Choose(0, int.MaxValue)
            from lenShift in Gen.Choose(0, 64)
            from oaShift in Gen.Choose(0, 63)
            select (bitmap, va: ((ulong)vaBits << 31) << vaShift, len: lenShift == 64 ? 0 : (1UL << lenShift) + (ulong)vaBits % 3, oa: ((ulong)vaBits * 4096) << oaShift);
        var property = Prop.ForAll(gen.ToArbitrary(), c =>
        {
            ulong last = c.len == 0 ? ulong.MaxValue : c.va + Math.Min(c.len - 1, ulong.MaxValue - c.va);
            PageSizes.BestLg2(c.bitmap, c.va, last, c.oa).ShouldBe(BruteForce(c.bitmap, c.va, last, c.oa));
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), property);
    }

    [Theory]
    [InlineData(0x40201000UL, 0UL, 0x3FFF_FFFFUL, 0UL, 30)]
    [InlineData(0x40201000UL, 0x20_0000UL, 0x3FFF_FFFFUL, 0UL, 21)]
    [InlineData(0x40201000UL, 0UL, 0x3FFF_FFFEUL, 0UL, 21)]
    [InlineData(0x40201000UL, 0UL, 0x3FFF_FFFFUL, 0x1000UL, 12)]
    [InlineData(0x40201000UL, 0x800UL, 0x1FFFUL, 0UL, 0)]
    [InlineData(0x40201000UL, 0UL, ulong.MaxValue, 0UL, 30)]
    [InlineData(1UL << 63, 0UL, ulong.MaxValue, 0UL, 63)]
    public void BestLg2_Examples(ulong bitmap, ulong va, ulong last, ulong oa, int expected)
    {
        PageSizes.BestLg2(bitmap, va, last, oa).ShouldBe(expected);
    }

    [Fact]
    public void Helpers()
    {
        PageSizes.SmallestLg2(0x40201000).ShouldBe(12);
        PageSizes.SmallestLg2(0).ShouldBe(64);
        PageSizes.UpTo(0).ShouldBe(1UL);
        PageSizes.UpTo(12).ShouldBe(0x1FFFUL);
        PageSizes.UpTo(62).ShouldBe(0x7FFF_FFFF_FFFF_FFFFUL);
        PageSizes.UpTo(63).ShouldBe(ulong.MaxValue);
        PageSizes.UpTo(64).ShouldBe(ulong.MaxValue);
        PtGeometry.ItemLg2(0).ShouldBe(12);
        PtGeometry.ItemLg2(5).ShouldBe(57);
        PtGeometry.TableLg2(5).ShouldBe(66);
        PtGeometry.LevelOfSize(20).ShouldBe(0);
        PtGeometry.LevelOfSize(21).ShouldBe(1);
        PtGeometry.LevelOfSize(29).ShouldBe(1);
        PtGeometry.LevelOfSize(30).ShouldBe(2);
        PtGeometry.Index(0xFFFF_8000_0000_0000, 3).ShouldBe(256);
        PtGeometry.Index(0x20_1000, 0).ShouldBe(1);
    }
}
