using Driver.Platform.Memory;

namespace Driver.Platform.Tests.Memory;

/// <summary>
/// One run's frame on its own: it hands back the dense frame the first breaking store made, and whoever
/// still holds the run (a reader that found it before the directory changed) reaches that dense frame.
/// </summary>
public sealed class LinearFrameTests
{
    private static (LinearFrame Run, DenseFrame Dense) Broken()
    {
        var run = new LinearFrame(7);
        run.Write(0, 10).ShouldBeNull();
        run.Write(1, 20).ShouldBeNull();
        run.Write(2, 30).ShouldBeNull();
        var dense = run.Write(1, 99);
        dense.ShouldNotBeNull();
        dense.Number.ShouldBe(7UL);
        ((ReadOnlySpan<ulong>)dense.Words)[..4].ToArray().ShouldBe([10UL, 99UL, 30UL, 0UL]);
        return (run, dense);
    }

    [Fact]
    public void TheStoreThatBreaksTheRun_ReturnsTheDenseFrame_WithEveryWordAndThatStore() => Broken();

    [Fact]
    public void AfterwardsTheRun_ForwardsEveryAccessToTheDenseFrame()
    {
        var (run, dense) = Broken();
        run.Read(1).ShouldBe(99UL);
        run.Write(5, 55).ShouldBeNull();
        dense.Words[5].ShouldBe(55UL);
        run.CompareExchange(5, 56, 55, out var became).ShouldBe(55UL);
        became.ShouldBeNull();
        dense.Words[5].ShouldBe(56UL);
        run.CompareExchange(5, 57, 1, out _).ShouldBe(56UL);
        dense.Words[5].ShouldBe(56UL);
        run.ToDense(out bool first).ShouldBeSameAs(dense);
        first.ShouldBeFalse();
        var bytes = new byte[16];
        run.CopyTo(8, bytes);
        BitConverter.ToUInt64(bytes, 0).ShouldBe(99UL);
        BitConverter.ToUInt64(bytes, 8).ShouldBe(30UL);
        run.Clear();
        dense.Words[0].ShouldBe(0UL);
        dense.Words[5].ShouldBe(0UL);
        run.Read(2).ShouldBe(0UL);
    }

    [Fact]
    public void ToDense_MakesTheDenseFrameOnce()
    {
        var run = new LinearFrame(3);
        run.Write(4, 8);
        var dense = run.ToDense(out bool first);
        first.ShouldBeTrue();
        dense.Words[4].ShouldBe(8UL);
        run.ToDense(out bool again).ShouldBeSameAs(dense);
        again.ShouldBeFalse();
    }

    [Fact]
    public void CompareExchange_ThatBreaksTheRun_ReturnsTheOldWord_AndTheDenseFrame()
    {
        var run = new LinearFrame(1);
        run.Write(0, 10);
        run.Write(1, 20);
        run.Write(2, 30);
        run.CompareExchange(0, 11, 10, out var became).ShouldBe(10UL);
        became.ShouldNotBeNull();
        became.Words[0].ShouldBe(11UL);
        run.Read(0).ShouldBe(11UL);
    }
}
