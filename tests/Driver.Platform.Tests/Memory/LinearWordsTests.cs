using Driver.Platform.Memory;

namespace Driver.Platform.Tests.Memory;

/// <summary>The run's arithmetic: every store it can absorb, and the ones it cannot.</summary>
public sealed class LinearWordsTests
{
    private const ulong Pte = 0x6000_0000_1000_0001;
    private const ulong Page = 0x1000;

    // Words 10..13 hold Pte, Pte + 4K, Pte + 8K, Pte + 12K.
    private static readonly LinearWords Four = new(10, 4, Pte, Page);

    private static ulong[] Words(LinearWords run)
    {
        var words = new ulong[PhysicalMemory.WordsPerFrame];
        run.CopyTo(words);
        return words;
    }

    // What the store must leave, computed the long way: every word, then the store.
    private static void ShouldStore(LinearWords run, int index, ulong value, bool absorbed)
    {
        var expected = Words(run);
        expected[index] = value;
        run.TryWrite(index, value, out var next).ShouldBe(absorbed);
        if (absorbed)
            Words(next).ShouldBe(expected);
        else
            next.ShouldBe(run);
    }

    [Fact]
    public void Indexing_GivesTheRunInsideAndZeroOutside()
    {
        Four[9].ShouldBe(0UL);
        Four[10].ShouldBe(Pte);
        Four[13].ShouldBe(Pte + (3 * Page));
        Four[14].ShouldBe(0UL);
        default(LinearWords)[0].ShouldBe(0UL);
        Words(Four).Count(w => w != 0).ShouldBe(4);
    }

    [Theory]
    [InlineData(14, Pte + (4 * Page))]  // one more page at the end
    [InlineData(9, Pte - Page)]         // one more page before the start
    [InlineData(10, 0UL)]               // unmapping the first
    [InlineData(13, 0UL)]               // unmapping the last
    [InlineData(11, Pte + Page)]        // storing what is there
    [InlineData(300, 0UL)]              // storing zero outside
    public void StoresThatKeepOneRun_AreAbsorbed(int index, ulong value) => ShouldStore(Four, index, value, absorbed: true);

    [Theory]
    [InlineData(11, 0UL)]               // a hole
    [InlineData(12, Pte)]               // a different page inside
    [InlineData(14, Pte + (5 * Page))]  // the end, off the step
    [InlineData(15, Pte + (5 * Page))]  // past the end, leaving a gap
    [InlineData(9, Pte)]                // before the start, off the step
    [InlineData(10, Pte | 2)]           // the first, new bits
    public void StoresThatBreakTheRun_AreRefused(int index, ulong value) => ShouldStore(Four, index, value, absorbed: false);

    [Theory]
    [InlineData(5, 77UL, true)]    // the word itself changes
    [InlineData(5, 0UL, true)]     // and goes: an empty run
    [InlineData(6, 99UL, true)]    // a neighbour after sets the step
    [InlineData(4, 99UL, true)]    // a neighbour before too
    [InlineData(7, 99UL, false)]   // a gap is not a run
    [InlineData(3, 99UL, false)]
    public void ARunOfOneWord_TakesAnyNeighbour(int index, ulong value, bool absorbed) =>
        ShouldStore(new LinearWords(5, 1, 42, 0), index, value, absorbed);

    [Theory]
    [InlineData(5, 7UL)]
    [InlineData(6, 7UL)]
    [InlineData(6, 1UL)]  // a step that goes down
    public void ARunOfTwoWords_TakesAnyNewValueForEither(int index, ulong value) =>
        ShouldStore(new LinearWords(5, 2, 42, 10), index, value, absorbed: true);

    [Fact]
    public void ARunEmptiedOfItsLastWord_IsTheEmptyRun()
    {
        new LinearWords(5, 1, 42, 7).TryWrite(5, 0, out var next).ShouldBeTrue();
        next.ShouldBe(default);
    }

    [Fact]
    public void CopyTo_ZeroesEveryWordOutsideTheRun()
    {
        var words = Enumerable.Repeat(ulong.MaxValue, PhysicalMemory.WordsPerFrame).ToArray();
        Four.CopyTo(words);
        words.ShouldBe(Words(Four));
    }

    [Fact]
    public void AnEmptyRun_StartsWhereTheFirstStoreLands()
    {
        default(LinearWords).TryWrite(511, 3, out var next).ShouldBeTrue();
        next.ShouldBe(new LinearWords(511, 1, 3, 0));
        ShouldStore(next, 510, 2, absorbed: true);
    }

    [Fact]
    public void ATableFilledInOrder_AndEmptiedInOrder_IsOneRunThroughout()
    {
        var run = default(LinearWords);
        for (int i = 0; i < PhysicalMemory.WordsPerFrame; i++)
            run.TryWrite(i, Pte + ((ulong)i * Page), out run).ShouldBeTrue();
        run.ShouldBe(new LinearWords(0, 512, Pte, Page));
        for (int i = 0; i < PhysicalMemory.WordsPerFrame; i++)
            run.TryWrite(i, 0, out run).ShouldBeTrue();
        run.Count.ShouldBe(0);
        Words(run).ShouldAllBe(w => w == 0);
    }

    [Fact]
    public void EqualWords_AreARunWithStepZero()
    {
        var run = new LinearWords(0, 3, 0x0101_0101_0101_0101, 0);
        ShouldStore(run, 3, 0x0101_0101_0101_0101, absorbed: true);
        ShouldStore(run, 3, 0x0202_0202_0202_0202, absorbed: false);
    }
}
