using System.Collections.Concurrent;
using CsCheck;
using Driver.Platform.Memory;

namespace Driver.Platform.Tests.Memory;

/// <summary>
/// Frames kept as runs: a page table filled in order costs no 4 KiB frame, the
/// first store that breaks the run keeps every word, and no sequence of stores,
/// nor stores from several threads, can tell run frames from byte-for-byte ones.
/// </summary>
public sealed class LinearFrameMemoryTests
{
    private const ulong Table = 0x7_0000;
    private const ulong Pte = 0x6000_0040_0000_0001;
    private const ulong Page = 0x1000;

    private static ulong Leaf(int i) => Pte + ((ulong)i * Page);

    private static PhysicalMemory FilledTable()
    {
        var memory = new PhysicalMemory();
        for (int i = 0; i < 512; i++)
            memory.WriteU64(Table + ((ulong)i * 8), Leaf(i));
        return memory;
    }

    private static ulong[] TableWords(PhysicalMemory memory)
    {
        var bytes = new byte[PhysicalMemory.FrameSize];
        memory.Read(Table, bytes);
        return Enumerable.Range(0, 512).Select(i => BitConverter.ToUInt64(bytes, i * 8)).ToArray();
    }

    [Fact]
    public void ATableFilledInOrder_IsARun_AndReadsLikeEveryWordWereStored()
    {
        var memory = FilledTable();
        memory.TouchedFrames.ShouldBe(1);
        memory.DenseFrames.ShouldBe(0);
        memory.ReadU64(Table + (300 * 8)).ShouldBe(Leaf(300));
        TableWords(memory).ShouldBe(Enumerable.Range(0, 512).Select(Leaf).ToArray());
        var middle = new byte[12];
        memory.Read(Table + 0x804, middle);
        middle.ShouldBe(BitConverter.GetBytes(Leaf(256)).Skip(4).Concat(BitConverter.GetBytes(Leaf(257))).ToArray());
    }

    [Fact]
    public void ATableFilledBackwards_AndUnmappedFromEitherEnd_StaysARun()
    {
        var memory = new PhysicalMemory();
        for (int i = 511; i >= 0; i--)
            memory.WriteU64(Table + ((ulong)i * 8), Leaf(i));
        memory.WriteU64(Table, 0);
        memory.WriteU64(Table + (511 * 8), 0);
        memory.DenseFrames.ShouldBe(0);
        var words = TableWords(memory);
        words[0].ShouldBe(0UL);
        words[1].ShouldBe(Leaf(1));
        words[510].ShouldBe(Leaf(510));
        words[511].ShouldBe(0UL);
    }

    [Fact]
    public void AHoleInTheRun_GivesTheFrameAllItsWords_AndLosesNone()
    {
        var memory = FilledTable();
        memory.WriteU64(Table + (100 * 8), 0);
        memory.DenseFrames.ShouldBe(1);
        memory.TouchedFrames.ShouldBe(1);
        var expected = Enumerable.Range(0, 512).Select(i => i == 100 ? 0 : Leaf(i)).ToArray();
        TableWords(memory).ShouldBe(expected);
        memory.WriteU64(Table + (100 * 8), 5);
        memory.ReadU64(Table + (100 * 8)).ShouldBe(5UL);
    }

    [Fact]
    public void CompareExchange_OnARun_ReplacesOnlyOnMatch_AndBreaksItLikeAStore()
    {
        var memory = FilledTable();
        memory.CompareExchangeU64(Table + 8, 9, Leaf(2)).ShouldBe(Leaf(1));
        memory.DenseFrames.ShouldBe(0);
        memory.CompareExchangeU64(Table + (511 * 8), 0, Leaf(511)).ShouldBe(Leaf(511));
        memory.DenseFrames.ShouldBe(0);
        memory.ReadU64(Table + (511 * 8)).ShouldBe(0UL);
        // Setting a dirty bit in the middle is not a run any more.
        memory.CompareExchangeU64(Table + 8, Leaf(1) | 0x40, Leaf(1)).ShouldBe(Leaf(1));
        memory.DenseFrames.ShouldBe(1);
        memory.ReadU64(Table + 8).ShouldBe(Leaf(1) | 0x40);
        memory.ReadU64(Table + 16).ShouldBe(Leaf(2));
    }

    [Fact]
    public void ZeroingTheWholeFrame_EmptiesTheRun_ButBytesGiveItAllItsWords()
    {
        var memory = FilledTable();
        memory.Fill(Table, PhysicalMemory.FrameSize, 0);
        memory.DenseFrames.ShouldBe(0);
        TableWords(memory).ShouldAllBe(w => w == 0);
        memory.WriteU64(Table + 16, 3);
        memory.Write(Table + 20, [1, 2]);
        memory.DenseFrames.ShouldBe(1);
        memory.ReadU64(Table + 16).ShouldBe(3UL | (0x0201UL << 32));

        var filled = FilledTable();
        filled.Fill(Table + 8, 8, 0);
        filled.DenseFrames.ShouldBe(1);
        TableWords(filled).ShouldBe(Enumerable.Range(0, 512).Select(i => i == 1 ? 0 : Leaf(i)).ToArray());
    }

    [Fact]
    public void BytesIntoNewFrames_AndAMemoryWithoutRuns_StoreEveryFrameWhole()
    {
        var memory = new PhysicalMemory();
        memory.Fill(0x10_0000, 0x2000, 0xAB);
        memory.Write(0x20_0000, [1]);
        memory.DenseFrames.ShouldBe(3);

        var whole = new PhysicalMemory(linearFrames: false);
        for (int i = 0; i < 512; i++)
            whole.WriteU64(Table + ((ulong)i * 8), Leaf(i));
        whole.DenseFrames.ShouldBe(1);
        TableWords(whole).ShouldBe(TableWords(FilledTable()));
    }

    // Random stores of every kind over two frames after an in-order fill, most of them at the run's ends: the same bytes as byte-for-byte memory.
    private enum Kind { Word, Swap, Zero, Fill, Bytes }

    private enum Anchor { Start, End, Anywhere }

    private sealed record Op(Kind Kind, Anchor Anchor, int Offset, int Pick, bool Hit)
    {
        public int Word(int start, int end) => Math.Clamp(Anchor switch
        {
            Anchor.Start => start + (Offset % 5) - 2,
            Anchor.End => end + (Offset % 5) - 2,
            _ => Offset,
        }, 0, 1023);

        public override string ToString() => $"{Kind}({Anchor} {Offset}, {Pick}, {Hit})";
    }

    private static readonly Gen<Op> GenOp =
        Gen.Select(Gen.Enum<Kind>(), Gen.Enum<Anchor>(), Gen.Int[0, 1023], Gen.Int[0, 7], Gen.Bool)
            .Select(t => new Op(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5));

    [Fact]
    public void AnySequenceOfStores_ReadsAsInByteForByteMemory()
    {
        Gen.Select(Gen.Int[0, 1023], Gen.Int[0, 600], Gen.Bool, GenOp.List[0, 40]).Sample((start, count, backwards, ops) =>
        {
            var runs = new PhysicalMemory();
            var whole = new PhysicalMemory(linearFrames: false);
            var both = new[] { runs, whole };
            int end = Math.Min(start + count, 1024);
            for (int k = 0; k < end - start; k++)
            {
                int w = backwards ? end - 1 - k : start + k;
                Array.ForEach(both, m => m.WriteU64(Table + ((ulong)w * 8), Leaf(w)));
            }
            foreach (var op in ops)
            {
                int word = op.Word(start, end);
                ulong pa = Table + ((ulong)word * 8);
                ulong value = op.Pick == 0 ? 0 : Leaf(word + op.Pick - 1);
                switch (op.Kind)
                {
                    case Kind.Word:
                        Array.ForEach(both, m => m.WriteU64(pa, value));
                        break;
                    case Kind.Swap:
                        ulong comparand = op.Hit ? whole.ReadU64(pa) : value ^ 1;
                        runs.CompareExchangeU64(pa, value, comparand).ShouldBe(whole.CompareExchangeU64(pa, value, comparand));
                        break;
                    case Kind.Zero:
                        Array.ForEach(both, m => m.Fill(Table + ((ulong)(word / 512) * Page), Page, 0));
                        break;
                    case Kind.Fill:
                        Array.ForEach(both, m => m.Fill(pa + 3, (ulong)op.Pick * 100, (byte)op.Pick));
                        break;
                    case Kind.Bytes:
                        Array.ForEach(both, m => m.Write(pa + 1, BitConverter.GetBytes(value)));
                        break;
                }
                runs.ReadU64(pa).ShouldBe(whole.ReadU64(pa));
            }
            var expected = new byte[3 * Page];
            var actual = new byte[3 * Page];
            whole.Read(Table, expected);
            runs.Read(Table, actual);
            actual.ShouldBe(expected);
            runs.TouchedFrames.ShouldBe(whole.TouchedFrames);
        }, iter: 500);
    }

    [Fact]
    public void ThreadsIncrementingWordsOfOneRun_LoseNoIncrement_WhileItBecomesDense()
    {
        for (int round = 0; round < 20; round++)
        {
            var memory = FilledTable();
            const int Threads = 4;
            const int Increments = 2000;
            using var start = new Barrier(Threads);
            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                ulong pa = Table + ((ulong)(t * 100) * 8);
                for (int i = 0; i < Increments; i++)
                {
                    ulong seen = memory.ReadU64(pa);
                    while (memory.CompareExchangeU64(pa, seen + 1, seen) is var old && old != seen)
                        seen = old;
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            var words = TableWords(memory);
            for (int i = 0; i < 512; i++)
                words[i].ShouldBe(i % 100 == 0 && i < Threads * 100 ? Leaf(i) + Increments : Leaf(i));
            memory.DenseFrames.ShouldBe(1);
        }
    }

    [Fact]
    public void ReadersBesideAFillingWriter_SeeEachWordEitherUnwrittenOrWhole()
    {
        for (int round = 0; round < 20; round++)
        {
            var memory = new PhysicalMemory();
            var torn = new ConcurrentBag<string>();
            bool done = false;
            var readers = Enumerable.Range(0, 2).Select(r => new Thread(() =>
            {
                var random = new Random(r);
                while (!Volatile.Read(ref done))
                {
                    int i = random.Next(512);
                    ulong word = memory.ReadU64(Table + ((ulong)i * 8));
                    if (word != 0 && word != Leaf(i) && word != Leaf(i) + 1)
                        torn.Add($"word {i}: {word:x}");
                }
            })).ToList();
            readers.ForEach(r => r.Start());
            // In order, then a hole and the rest changed one by one: the run grows, then the frame becomes dense under the readers.
            for (int i = 0; i < 512; i++)
                memory.WriteU64(Table + ((ulong)i * 8), Leaf(i));
            for (int i = 0; i < 512; i += 2)
                memory.WriteU64(Table + ((ulong)i * 8), Leaf(i) + 1);
            Volatile.Write(ref done, true);
            readers.ForEach(r => r.Join());
            torn.ShouldBeEmpty();
        }
    }
}
