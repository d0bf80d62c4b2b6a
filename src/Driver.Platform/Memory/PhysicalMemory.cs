using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Driver.Hw.Interfaces;

namespace Driver.Platform.Memory;

/// <summary>
/// A sparse 52-bit physical address space. A 4 KiB frame comes into being the
/// first time something stores into it; reads of untouched memory return
/// zeros without allocating, so a huge guest costs only the frames touched.
/// Frames are found through a three-level directory of arrays (14/13/13 bits of
/// the frame number), behind a one-frame cache that runs of accesses to one
/// table hit: no hashing and no locks on any path.
/// </summary>
public sealed class PhysicalMemory : IPhysicalMemory
{
    public const int FrameShift = 12;
    public const int FrameSize = 1 << FrameShift;

    private const int WordsPerFrame = FrameSize / sizeof(ulong);
    private const int LeafBits = 13;
    private const int MidBits = 13;
    private const int RootBits = IPhysicalMemory.AddressBits - FrameShift - LeafBits - MidBits;
    private const ulong LeafMask = (1UL << LeafBits) - 1;
    private const ulong MidMask = (1UL << MidBits) - 1;

    // Every bit that must be clear in the address of an aligned word.
    private const ulong BadWordBits = ~(IPhysicalMemory.Limit - 1) | (sizeof(ulong) - 1);

    // Null slots are directories or frames that nobody has touched yet.
    private readonly Frame[][][] _root = new Frame[1 << RootBits][][];
    private Frame _last = new(ulong.MaxValue);
    private long _frames;

    /// <summary>Frames that exist, i.e. that something has stored into.</summary>
    public long TouchedFrames => Interlocked.Read(ref _frames);

    public ulong ReadU64(ulong pa)
    {
        if ((pa & BadWordBits) != 0)
            throw BadWord(pa);
        var frame = FindFrame(pa >> FrameShift);
        return frame is null ? 0 : Volatile.Read(ref frame.Words[WordIndex(pa)]);
    }

    public void WriteU64(ulong pa, ulong value)
    {
        if ((pa & BadWordBits) != 0)
            throw BadWord(pa);
        var frame = FindFrame(pa >> FrameShift) ?? CreateFrame(pa >> FrameShift);
        Volatile.Write(ref frame.Words[WordIndex(pa)], value);
    }

    public ulong CompareExchangeU64(ulong pa, ulong value, ulong comparand)
    {
        if ((pa & BadWordBits) != 0)
            throw BadWord(pa);
        var frame = FindFrame(pa >> FrameShift) ?? CreateFrame(pa >> FrameShift);
        return Interlocked.CompareExchange(ref frame.Words[WordIndex(pa)], value, comparand);
    }

    public void Read(ulong pa, Span<byte> destination)
    {
        CheckRange(pa, (ulong)destination.Length);
        while (!destination.IsEmpty)
        {
            int offset = (int)(pa & (FrameSize - 1));
            int chunk = Math.Min(FrameSize - offset, destination.Length);
            var frame = FindFrame(pa >> FrameShift);
            if (frame is null)
                destination[..chunk].Clear();
            else
                frame.Bytes.Slice(offset, chunk).CopyTo(destination);
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
            var frame = FindFrame(pa >> FrameShift) ?? CreateFrame(pa >> FrameShift);
            source[..chunk].CopyTo(frame.Bytes.Slice(offset, chunk));
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
            // Zero-filling untouched memory must not bring frames into being.
            if (frame is not null || value != 0)
            {
                frame ??= CreateFrame(pa >> FrameShift);
                frame.Bytes.Slice(offset, chunk).Fill(value);
            }
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
        var frame = leaf?[frameNumber & LeafMask];
        if (frame is not null)
            _last = frame;
        return frame;
    }

    // Several threads may touch the same new frame: the first published one wins.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Frame CreateFrame(ulong frameNumber)
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
        var fresh = new Frame(frameNumber);
        frame = Interlocked.CompareExchange(ref frameSlot, fresh, null!);
        if (frame is not null)
            return frame;
        Interlocked.Increment(ref _frames);
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

    /// <summary>One 4 KiB frame, its words inline so that a cached frame is one load away from its data.</summary>
    private sealed class Frame(ulong number)
    {
        public readonly ulong Number = number;
        public FrameWords Words;

        public Span<byte> Bytes => MemoryMarshal.AsBytes((Span<ulong>)Words);
    }

    [InlineArray(WordsPerFrame)]
    private struct FrameWords
    {
        private ulong _word;
    }
}
