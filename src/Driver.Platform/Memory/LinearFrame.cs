using System.Runtime.InteropServices;

namespace Driver.Platform.Memory;

/// <summary>
/// A frame kept as a <see cref="LinearWords"/> run. Stores take a sequence lock
/// (one compare-exchange; the sequence number is odd while a writer changes the run) and
/// reads take none: they retry when a writer was inside. A store that ends the
/// run turns the frame into a <see cref="DenseFrame"/> with that store applied;
/// every later access forwards to it, and the caller puts it in the directory.
/// </summary>
internal sealed class LinearFrame(ulong number) : Frame(number)
{
    private int _sequence;
    private int _start;
    private int _count;
    private ulong _first;
    private ulong _step;
    private DenseFrame? _dense;

    public ulong Read(int index)
    {
        var words = Snapshot(out var dense);
        return dense is null ? words[index] : Volatile.Read(ref dense.Words[index]);
    }

    /// <summary>Copies the bytes from <paramref name="offset"/> on into <paramref name="destination"/>.</summary>
    public void CopyTo(int offset, Span<byte> destination)
    {
        var words = Snapshot(out var dense);
        if (dense is not null)
        {
            dense.Bytes.Slice(offset, destination.Length).CopyTo(destination);
            return;
        }
        Span<ulong> all = stackalloc ulong[PhysicalMemory.WordsPerFrame];
        words.CopyTo(all);
        MemoryMarshal.AsBytes(all).Slice(offset, destination.Length).CopyTo(destination);
    }

    /// <summary>Stores a word; returns the dense frame this one became when the store ended the run.</summary>
    public DenseFrame? Write(int index, ulong value)
    {
        int odd = Enter();
        var dense = _dense;
        var became = dense is null ? Apply(Current, index, value) : null;
        Exit(odd);
        if (dense is not null)
            Volatile.Write(ref dense.Words[index], value);
        return became;
    }

    /// <summary>Compare-exchange of one word, atomic with every other store; <paramref name="became"/> as for <see cref="Write"/>.</summary>
    public ulong CompareExchange(int index, ulong value, ulong comparand, out DenseFrame? became)
    {
        became = null;
        int odd = Enter();
        var dense = _dense;
        ulong old = 0;
        if (dense is null)
        {
            var words = Current;
            old = words[index];
            if (old == comparand)
                became = Apply(words, index, value);
        }
        Exit(odd);
        return dense is null ? old : Interlocked.CompareExchange(ref dense.Words[index], value, comparand);
    }

    /// <summary>The frame with all its words, for stores of bytes; <paramref name="became"/> is true the first time.</summary>
    public DenseFrame ToDense(out bool became)
    {
        int odd = Enter();
        var dense = _dense;
        became = dense is null;
        if (dense is null)
            Publish(dense = Materialize(Current));
        Exit(odd);
        return dense;
    }

    /// <summary>Zeroes every word: what the frame allocator does to a table page it hands out again.</summary>
    public void Clear()
    {
        int odd = Enter();
        var dense = _dense;
        if (dense is null)
            Store(default);
        Exit(odd);
        dense?.Bytes.Clear();
    }

    // Only the writer inside the lock reads these, so plain loads do.
    private LinearWords Current => new(_start, _count, _first, _step);

    // Inside the lock: the store kept in the run, or the frame made dense with it (returned).
    private DenseFrame? Apply(LinearWords words, int index, ulong value)
    {
        if (words.TryWrite(index, value, out var next))
        {
            Store(next);
            return null;
        }
        var dense = Materialize(words);
        // Stored before the dense frame is published, so no later store through it can be overtaken.
        dense.Words[index] = value;
        Publish(dense);
        return dense;
    }

    private DenseFrame Materialize(LinearWords words)
    {
        var dense = new DenseFrame(Number);
        words.CopyTo(dense.Words);
        return dense;
    }

    private void Publish(DenseFrame dense) => Volatile.Write(ref _dense, dense);

    private void Store(LinearWords words)
    {
        Volatile.Write(ref _start, words.Start);
        Volatile.Write(ref _count, words.Count);
        Volatile.Write(ref _first, words.First);
        Volatile.Write(ref _step, words.Step);
    }

    private LinearWords Snapshot(out DenseFrame? dense)
    {
        var spin = default(SpinWait);
        while (true)
        {
            int sequence = Volatile.Read(ref _sequence);
            dense = Volatile.Read(ref _dense);
            if (dense is not null)
                return default;
            if ((sequence & 1) == 0)
            {
                // Each load is an acquire, so the second look at the sequence number cannot move above them.
                var words = new LinearWords(Volatile.Read(ref _start), Volatile.Read(ref _count), Volatile.Read(ref _first), Volatile.Read(ref _step));
                if (Volatile.Read(ref _sequence) == sequence)
                    return words;
            }
            spin.SpinOnce();
        }
    }

    private int Enter()
    {
        var spin = default(SpinWait);
        while (true)
        {
            int sequence = Volatile.Read(ref _sequence);
            if ((sequence & 1) == 0 && Interlocked.CompareExchange(ref _sequence, sequence + 1, sequence) == sequence)
                return sequence + 1;
            spin.SpinOnce();
        }
    }

    private void Exit(int odd) => Volatile.Write(ref _sequence, odd + 1);
}
