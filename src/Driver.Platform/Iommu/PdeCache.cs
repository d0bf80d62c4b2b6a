namespace Driver.Platform.Iommu;

/// <summary>
/// The page-directory cache: non-leaf entries met on walks, tagged by domain,
/// table level and the IOVA prefix the entry decodes. Only an invalidation with
/// the PDE bit drops them, so a driver that frees or rewrites a table without
/// it walks the old one.
/// </summary>
internal sealed class PdeCache
{
    private readonly Line[] _lines;
    private readonly byte[] _victim;
    private readonly int _ways;
    private readonly ulong _setMask;

    public PdeCache(int sets, int ways)
    {
        if (sets <= 0 || (sets & (sets - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(sets), "a power of two");
        if (ways is <= 0 or > 255)
            throw new ArgumentOutOfRangeException(nameof(ways));
        _lines = new Line[sets * ways];
        _victim = new byte[sets];
        _ways = ways;
        _setMask = (ulong)(sets - 1);
    }

    public int Count
    {
        get
        {
            int n = 0;
            foreach (ref readonly var l in _lines.AsSpan())
                if (l.Present)
                    n++;
            return n;
        }
    }

    /// <summary>Bytes of IOVA one entry of a level-<paramref name="level"/> table covers, as a shift.</summary>
    public static int EntryShift(int level) => 12 + 9 * (level - 1);

    private int SetOf(ushort domainId, int level, ulong prefix) =>
        (int)((prefix ^ ((ulong)level << 5) ^ ((ulong)domainId * 0x9E37UL)) & _setMask) * _ways;

    public bool TryGet(ushort domainId, int level, ulong iova, out PdeCacheHit hit)
    {
        ulong prefix = Prefix(level, iova);
        int first = SetOf(domainId, level, prefix);
        for (int i = first; i < first + _ways; i++)
        {
            ref readonly var l = ref _lines[i];
            if (l.Present && l.Prefix == prefix && l.Level == level && l.DomainId == domainId)
            {
                hit = new PdeCacheHit(l.NextTable, l.NextLevel, l.Read, l.Write, l.Epoch);
                return true;
            }
        }
        hit = default;
        return false;
    }

    public void Fill(ushort domainId, int level, ulong iova, in PdeCacheHit value)
    {
        ulong prefix = Prefix(level, iova);
        int first = SetOf(domainId, level, prefix);
        int slot = -1;
        for (int i = first; i < first + _ways; i++)
        {
            ref readonly var l = ref _lines[i];
            if (!l.Present || (l.Prefix == prefix && l.Level == level && l.DomainId == domainId))
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
        _lines[slot] = new Line
        {
            Present = true,
            DomainId = domainId,
            Level = (byte)level,
            Prefix = prefix,
            NextTable = value.NextTable,
            NextLevel = value.NextLevel,
            Read = value.Read,
            Write = value.Write,
            Epoch = value.Epoch,
        };
    }

    /// <summary>Drops the entries of <paramref name="domainId"/> that decode any IOVA in [first, last].</summary>
    public int Invalidate(ushort domainId, ulong first, ulong last)
    {
        int dropped = 0;
        foreach (ref var l in _lines.AsSpan())
        {
            if (!l.Present || l.DomainId != domainId)
                continue;
            int shift = EntryShift(l.Level);
            ulong start = shift >= 64 ? 0 : l.Prefix << shift;
            ulong end = shift >= 64 ? ulong.MaxValue : start + ((1UL << shift) - 1);
            if (start <= last && end >= first)
            {
                l.Present = false;
                dropped++;
            }
        }
        return dropped;
    }

    public void InvalidateAll()
    {
        Array.Clear(_lines);
        Array.Clear(_victim);
    }

    private static ulong Prefix(int level, ulong iova)
    {
        int shift = EntryShift(level);
        return shift >= 64 ? 0 : iova >> shift;
    }

    private struct Line
    {
        public bool Present;
        public byte Level;
        public byte NextLevel;
        public bool Read;
        public bool Write;
        public ushort DomainId;
        public ulong Prefix;
        public ulong NextTable;
        public long Epoch;
    }
}
