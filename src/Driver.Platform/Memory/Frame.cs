using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Driver.Platform.Memory;

/// <summary>One 4 KiB frame of <see cref="PhysicalMemory"/>: either all its words (<see cref="DenseFrame"/>) or a run of them (<see cref="LinearFrame"/>).</summary>
internal abstract class Frame(ulong number)
{
    public readonly ulong Number = number;
}

/// <summary>A frame that holds every word, inline so that a cached frame is one load away from its data. Its accesses take no lock.</summary>
internal sealed class DenseFrame(ulong number) : Frame(number)
{
    public FrameWords Words;

    public Span<byte> Bytes => MemoryMarshal.AsBytes((Span<ulong>)Words);
}

[InlineArray(PhysicalMemory.WordsPerFrame)]
internal struct FrameWords
{
    private ulong _word;
}
