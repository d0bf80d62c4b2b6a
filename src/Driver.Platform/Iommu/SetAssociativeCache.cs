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
    private int SetOf(in TTag tag) => (int)(TLine.SetHash(tag) & _setMask);

    /// <summary>Index of the line tagged <paramref name="tag"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(in TTag tag)
    {
        int first = SetOf(tag) * _ways;
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
        int set = SetOf(line.Tag);
        int first = set * _ways;
        var slots = _slots;
        int slot = -1;
        for (int i = first; i < first + _ways; i++)
        {
            ref readonly var s = ref slots[i];
            if (!s.Present || TLine.SameTag(s.Line.Tag, line.Tag))
            {
                slot = i;
                break;
            }
        }
        if (slot < 0)
        {
            // Round robin without a division: a fill on the walk path must stay a few compares.
            int victim = _victim[set];
            slot = first + victim;
            _victim[set] = (byte)(victim + 1 == _ways ? 0 : victim + 1);
        }
        ref var target = ref slots[slot];
        target.Line = line;
        target.Present = true;
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
