using System.Runtime.CompilerServices;

namespace Driver.Platform.Iommu;

/// <summary>
/// The IOMMU TLB: a set-associative array of structs indexed by (domain, 4 KiB
/// page), round-robin replacement per set. A hit is a few loads and compares
/// and allocates nothing.
/// </summary>
internal sealed class Iotlb
{
    private readonly IotlbEntry[] _entries;
    private readonly byte[] _victim;
    private readonly int _ways;
    private readonly ulong _setMask;

    public Iotlb(int sets, int ways)
    {
        if (sets <= 0 || (sets & (sets - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(sets), "a power of two");
        if (ways is <= 0 or > 255)
            throw new ArgumentOutOfRangeException(nameof(ways));
        _entries = new IotlbEntry[sets * ways];
        _victim = new byte[sets];
        _ways = ways;
        _setMask = (ulong)(sets - 1);
    }

    public int Capacity => _entries.Length;

    public int Count
    {
        get
        {
            int n = 0;
            foreach (ref readonly var e in _entries.AsSpan())
                if (e.Present)
                    n++;
            return n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SetOf(ushort domainId, ulong vpn) => (int)((vpn ^ ((ulong)domainId * 0x9E37UL)) & _setMask) * _ways;

    /// <summary>Index of the line for (<paramref name="domainId"/>, <paramref name="vpn"/>), or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(ushort domainId, ulong vpn)
    {
        int first = SetOf(domainId, vpn);
        var entries = _entries;
        for (int i = first; i < first + _ways; i++)
        {
            ref readonly var e = ref entries[i];
            if (e.Vpn == vpn && e.Present && e.DomainId == domainId)
                return i;
        }
        return -1;
    }

    public ref IotlbEntry this[int index] => ref _entries[index];

    public void Fill(in IotlbEntry entry)
    {
        int first = SetOf(entry.DomainId, entry.Vpn);
        int set = first / _ways;
        int slot = -1;
        for (int i = first; i < first + _ways; i++)
        {
            if (!_entries[i].Present || (_entries[i].Vpn == entry.Vpn && _entries[i].DomainId == entry.DomainId))
            {
                slot = i;
                break;
            }
        }
        if (slot < 0)
        {
            slot = first + _victim[set];
            _victim[set] = (byte)((_victim[set] + 1) % _ways);
        }
        _entries[slot] = entry;
    }

    /// <summary>Drops the lines of <paramref name="domainId"/> whose translation overlaps [first, last].</summary>
    public int InvalidateIova(ushort domainId, ulong first, ulong last)
    {
        int dropped = 0;
        foreach (ref var e in _entries.AsSpan())
        {
            if (!e.Present || e.DomainId != domainId)
                continue;
            ulong start = e.IovaStart;
            if (start <= last && e.LastByte(start) >= first)
            {
                e.Present = false;
                dropped++;
            }
        }
        return dropped;
    }

    /// <summary>Drops every line whose system physical range overlaps [first, last] (RMP changes).</summary>
    public int InvalidateSpa(ulong first, ulong last)
    {
        int dropped = 0;
        foreach (ref var e in _entries.AsSpan())
        {
            if (!e.Present)
                continue;
            ulong start = e.SpaStart;
            if (start <= last && e.LastByte(start) >= first)
            {
                e.Present = false;
                dropped++;
            }
        }
        return dropped;
    }

    public void InvalidateAll()
    {
        Array.Clear(_entries);
        Array.Clear(_victim);
    }
}
