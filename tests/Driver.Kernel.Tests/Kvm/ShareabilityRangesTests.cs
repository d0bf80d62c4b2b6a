using CsCheck;
using Driver.Kernel.Kvm;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>The shareability range set against a per-page array.</summary>
public sealed class ShareabilityRangesTests
{
    [Fact]
    public void Set_SplitsAndMerges()
    {
        var r = new ShareabilityRanges(10, shared: false);
        r.Set(3, 5, shared: true);
        r.Ranges.ShouldBe([new(0, 3, false), new(3, 5, true), new(5, 10, false)]);
        r.Set(5, 7, shared: true);
        r.Ranges.ShouldBe([new(0, 3, false), new(3, 7, true), new(7, 10, false)]);
        r.Set(0, 10, shared: false);
        r.Ranges.ShouldBe([new(0, 10, false)]);
        r.Set(4, 4, shared: true);
        r.Ranges.Count.ShouldBe(1);
        Should.Throw<ArgumentOutOfRangeException>(() => r.Set(5, 11, shared: true));
        Should.Throw<ArgumentOutOfRangeException>(() => r.IsShared(10));
    }

    [Fact]
    public void RandomSets_MatchAPerPageArray_AndNeighboursAlwaysDiffer()
    {
        Gen.Select(Gen.Int[1, 64], Gen.Select(Gen.Int[0, 63], Gen.Int[0, 63], Gen.Bool).List[0, 40])
            .Sample((pages, sets) =>
            {
                var ranges = new ShareabilityRanges((ulong)pages, shared: false);
                var model = new bool[pages];
                foreach (var (a, b, shared) in sets)
                {
                    int start = Math.Min(a, b) % pages;
                    int end = Math.Min(Math.Max(a, b) + 1, pages);
                    ranges.Set((ulong)start, (ulong)end, shared);
                    for (int i = start; i < end; i++)
                        model[i] = shared;
                    var list = ranges.Ranges;
                    if (list[0].Start != 0 || list[^1].End != (ulong)pages)
                        return false;
                    for (int i = 0; i < list.Count; i++)
                    {
                        if (list[i].Start >= list[i].End || (i > 0 && (list[i - 1].End != list[i].Start || list[i - 1].Shared == list[i].Shared)))
                            return false;
                    }
                    for (int i = 0; i < pages; i++)
                    {
                        if (ranges.IsShared((ulong)i) != model[i])
                            return false;
                    }
                    int s = start;
                    int e = end;
                    if (ranges.All((ulong)s, (ulong)e, shared) != true || ranges.All(0, (ulong)pages, shared) != model.All(x => x == shared))
                        return false;
                }
                return true;
            }, iter: 2000);
    }

    [Fact]
    public void Clone_IsIndependent()
    {
        var r = new ShareabilityRanges(4, shared: true);
        var copy = r.Clone();
        r.Set(0, 2, shared: false);
        copy.Ranges.ShouldBe([new(0, 4, true)]);
        r.Ranges.Count.ShouldBe(2);
    }
}
