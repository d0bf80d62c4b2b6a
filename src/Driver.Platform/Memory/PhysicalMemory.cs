using System.Runtime.CompilerServices;
using Driver.Hw.Interfaces;

namespace Driver.Platform.Memory;

/// <summary>
/// A sparse 52-bit physical address space. A 4 KiB frame comes into being the
/// first time something stores into it; reads of untouched memory return
/// zeros without allocating, so a huge guest costs only the frames touched.
/// Frames are found through a three-level directory of arrays (14/13/13 bits of
/// the frame number), behind a one-frame cache that runs of accesses to one
/// table hit: no hashing and no locks on the paths to a frame's data.
/// <para>
/// A frame that 64-bit stores bring into being starts as a <see cref="LinearWords"/>
/// run and keeps that form while its words stay one arithmetic run (a page table
/// filled in address order does); the first store that breaks it, or any store of
/// bytes, gives the frame all its 4 KiB. Readers cannot tell the two apart.
/// </para>
/// </summary>
public sealed class PhysicalMemory : IPhysicalMemory
{
    public const int FrameShift = 12;
    public const int FrameSize = 1 << FrameShift;

    internal const int WordsPerFrame = FrameSize / sizeof(ulong);
    private const int LeafBits = 13;
    private const int MidBits = 13;
    private const int RootBits = IPhysicalMemory.AddressBits - FrameShift - LeafBits - MidBits;
    private const ulong LeafMask = (1UL << LeafBits) - 1;
    private const ulong MidMask = (1UL << MidBits) - 1;

    // Every bit that must be clear in the address of an aligned word.
    private const ulong BadWordBits = ~(IPhysicalMemory.Limit - 1) | (sizeof(ulong) - 1);

    private readonly bool _linearFrames;

    // Null slots are directories or frames that nobody has touched yet.
    private readonly Frame[][][] _root = new Frame[1 << RootBits][][];
    private Frame _last = new LinearFrame(ulong.MaxValue);
    private long _frames;
    private long _denseFrames;

    /// <param name="linearFrames">False stores every frame byte for byte, as the benchmarks' floor does.</param>
    public PhysicalMemory(bool linearFrames = true) => _linearFrames = linearFrames;

    /// <summary>Frames that exist, i.e. that something has stored into.</summary>
    public long TouchedFrames => Interlocked.Read(ref _frames);

    /// <summary>Frames that hold all 4 KiB; the rest of <see cref="TouchedFrames"/> are runs of a few words.</summary>
    public long DenseFrames => Interlocked.Read(ref _denseFrames);

    public ulong ReadU64(ulong pa)
    {
        if ((pa & BadWordBits) != 0)
            throw BadWord(pa);
        var frame = FindFrame(pa >> FrameShift);
        if (frame is DenseFrame dense)
            return Volatile.Read(ref dense.Words[WordIndex(pa)]);
        return frame is null ? 0 : ((LinearFrame)frame).Read(WordIndex(pa));
    }

    public void WriteU64(ulong pa, ulong value)
    {
        if ((pa & BadWordBits) != 0)
            throw BadWord(pa);
        var frame = FindFrame(pa >> FrameShift) ?? CreateFrame(pa >> FrameShift, _linearFrames);
        if (frame is DenseFrame dense)
            Volatile.Write(ref dense.Words[WordIndex(pa)], value);
        else if (((LinearFrame)frame).Write(WordIndex(pa), value) is { } became)
            Replace(became);
    }

    public ulong CompareExchangeU64(ulong pa, ulong value, ulong comparand)
    {
        if ((pa & BadWordBits) != 0)
            throw BadWord(pa);
        var frame = FindFrame(pa >> FrameShift) ?? CreateFrame(pa >> FrameShift, _linearFrames);
        if (frame is DenseFrame dense)
            return Interlocked.CompareExchange(ref dense.Words[WordIndex(pa)], value, comparand);
        ulong old = ((LinearFrame)frame).CompareExchange(WordIndex(pa), value, comparand, out var became);
        if (became is not null)
            Replace(became);
        return old;
    }

    public void Read(ulong pa, Span<byte> destination)
    {
        CheckRange(pa, (ulong)destination.Length);
        while (!destination.IsEmpty)
        {
            int offset = (int)(pa & (FrameSize - 1));
            int chunk = Math.Min(FrameSize - offset, destination.Length);
            switch (FindFrame(pa >> FrameShift))
            {
                case null:
                    destination[..chunk].Clear();
                    break;
                case DenseFrame dense:
                    dense.Bytes.Slice(offset, chunk).CopyTo(destination);
                    break;
                case var linear:
                    ((LinearFrame)linear).CopyTo(offset, destination[..chunk]);
                    break;
            }
            destination = destination[chunk..];
            pa += (ulong)chunk;
        }
    }

    public void Write(ulong pa, ReadOnlySpan<byte> source)
    {
        CheckRange(pa, (ulong)source.Length);
        while (!source.IsEmpty)
        {
            int offset = (int)(pa & (FrameSize - 1));
            int chunk = Math.Min(FrameSize - offset, source.Length);
            var frame = FindFrame(pa >> FrameShift) ?? CreateFrame(pa >> FrameShift, linear: false);
            source[..chunk].CopyTo(Dense(frame).Bytes.Slice(offset, chunk));
            source = source[chunk..];
            pa += (ulong)chunk;
        }
    }

    public void Fill(ulong pa, ulong length, byte value)
    {
        CheckRange(pa, length);
        while (length != 0)
        {
            int offset = (int)(pa & (FrameSize - 1));
            int chunk = (int)Math.Min((ulong)(FrameSize - offset), length);
            var frame = FindFrame(pa >> FrameShift);
            // Zero-filling untouched memory must not bring frames into being, nor a whole run's frame give it 4 KiB.
            if (frame is LinearFrame linear && value == 0 && chunk == FrameSize)
                linear.Clear();
            else if (frame is not null || value != 0)
                Dense(frame ?? CreateFrame(pa >> FrameShift, linear: false)).Bytes.Slice(offset, chunk).Fill(value);
            length -= (ulong)chunk;
            pa += (ulong)chunk;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WordIndex(ulong pa) => (int)((pa >> 3) & (WordsPerFrame - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Frame? FindFrame(ulong frameNumber)
    {
        var last = _last;
        return last.Number == frameNumber ? last : WalkDirectory(frameNumber);
    }

    private Frame? WalkDirectory(ulong frameNumber)
    {
        var mid = _root[frameNumber >> (LeafBits + MidBits)];
        var leaf = mid?[(frameNumber >> LeafBits) & MidMask];
        var frame = leaf is null ? null : Volatile.Read(ref leaf[frameNumber & LeafMask]);
        if (frame is not null)
            _last = frame;
        return frame;
    }

    private DenseFrame Dense(Frame frame)
    {
        if (frame is DenseFrame dense)
            return dense;
        dense = ((LinearFrame)frame).ToDense(out bool became);
        if (became)
            Replace(dense);
        return dense;
    }

    // A run's frame that became dense takes its slot; the run forwards whoever still holds it.
    private void Replace(DenseFrame dense)
    {
        ulong frameNumber = dense.Number;
        var leaf = _root[frameNumber >> (LeafBits + MidBits)][(frameNumber >> LeafBits) & MidMask];
        Volatile.Write(ref leaf[frameNumber & LeafMask], dense);
        Interlocked.Increment(ref _denseFrames);
        _last = dense;
    }

    // Several threads may touch the same new frame: the first published one wins.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Frame CreateFrame(ulong frameNumber, bool linear)
    {
        ref var midSlot = ref _root[frameNumber >> (LeafBits + MidBits)];
        var mid = Volatile.Read(ref midSlot)
            ?? Interlocked.CompareExchange(ref midSlot, new Frame[1 << MidBits][], null!)
            ?? midSlot;
        ref var leafSlot = ref mid[(frameNumber >> LeafBits) & MidMask];
        var leaf = Volatile.Read(ref leafSlot)
            ?? Interlocked.CompareExchange(ref leafSlot, new Frame[1 << LeafBits], null!)
            ?? leafSlot;
        ref var frameSlot = ref leaf[frameNumber & LeafMask];
        var frame = Volatile.Read(ref frameSlot);
        if (frame is not null)
            return frame;
        Frame fresh = linear ? new LinearFrame(frameNumber) : new DenseFrame(frameNumber);
        frame = Interlocked.CompareExchange(ref frameSlot, fresh, null!);
        if (frame is not null)
            return frame;
        Interlocked.Increment(ref _frames);
        if (!linear)
            Interlocked.Increment(ref _denseFrames);
        return fresh;
    }

    private static void CheckRange(ulong pa, ulong length)
    {
        if (pa >= IPhysicalMemory.Limit || length > IPhysicalMemory.Limit - pa)
            throw new ArgumentOutOfRangeException(nameof(pa), $"range 0x{pa:x}+0x{length:x} lies outside the {IPhysicalMemory.AddressBits}-bit physical address space");
    }

    // Built out of line and thrown by the caller, so the JIT sees the hot path's only exit is the throw.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentException BadWord(ulong pa) =>
        pa >= IPhysicalMemory.Limit
            ? new ArgumentOutOfRangeException(nameof(pa), $"0x{pa:x} lies outside the {IPhysicalMemory.AddressBits}-bit physical address space")
            : new ArgumentException($"0x{pa:x} is not 8-byte aligned", nameof(pa));
}
