using System.Runtime.CompilerServices;

namespace Driver.Platform.Iommu;

/// <summary>
/// A set-associative array of struct lines with round-robin replacement per
/// set: the shape of the IOTLB and of the page-directory cache. A lookup is a
/// few loads and compares and allocates nothing; a refill of a tag already
/// present replaces that line in place.
/// </summary>
internal sealed class SetAssociativeCache<TTag, TLine>
    where TTag : struct
    where TLine : struct, ICacheLine<TTag>
{
    private readonly Slot[] _slots;
    private readonly byte[] _victim;
    private readonly int _ways;
    private readonly ulong _setMask;

    public SetAssociativeCache(int sets, int ways)
    {
        if (sets <= 0 || (sets & (sets - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(sets), "a power of two");
        if (ways is <= 0 or > 255)
            throw new ArgumentOutOfRangeException(nameof(ways));
        _slots = new Slot[sets * ways];
        _victim = new byte[sets];
        _ways = ways;
        _setMask = (ulong)(sets - 1);
    }

    public int Capacity => _slots.Length;

    public int Count
    {
        get
        {
            int n = 0;
            foreach (ref readonly var s in _slots.AsSpan())
                if (s.Present)
                    n++;
            return n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FirstOfSet(in TTag tag) => (int)(TLine.SetHash(tag) & _setMask) * _ways;

    /// <summary>Index of the line tagged <paramref name="tag"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(in TTag tag)
    {
        int first = FirstOfSet(tag);
        var slots = _slots;
        for (int i = first; i < first + _ways; i++)
        {
            ref readonly var s = ref slots[i];
            if (s.Present && TLine.SameTag(s.Line.Tag, tag))
                return i;
        }
        return -1;
    }

    public ref readonly TLine this[int index] => ref _slots[index].Line;

    public bool TryGet(in TTag tag, out TLine line)
    {
        int index = Find(tag);
        line = index < 0 ? default : _slots[index].Line;
        return index >= 0;
    }

    public void Fill(in TLine line)
    {
        var tag = line.Tag;
        int first = FirstOfSet(tag);
        int slot = -1;
        for (int i = first; i < first + _ways; i++)
        {
            ref readonly var s = ref _slots[i];
            if (!s.Present || TLine.SameTag(s.Line.Tag, tag))
            {
                slot = i;
                break;
            }
        }
        if (slot < 0)
        {
            int set = first / _ways;
            slot = first + _victim[set];
            _victim[set] = (byte)((_victim[set] + 1) % _ways);
        }
        _slots[slot] = new Slot { Present = true, Line = line };
    }

    /// <summary>Drops every line the filter selects; returns how many.</summary>
    public int Invalidate<TFilter>(in TFilter filter)
        where TFilter : struct, ICacheFilter<TLine>
    {
        int dropped = 0;
        foreach (ref var s in _slots.AsSpan())
        {
            if (s.Present && filter.Drops(s.Line))
            {
                s.Present = false;
                dropped++;
            }
        }
        return dropped;
    }

    public void InvalidateAll()
    {
        Array.Clear(_slots);
        Array.Clear(_victim);
    }

    private struct Slot
    {
        public bool Present;
        public TLine Line;
    }
}
