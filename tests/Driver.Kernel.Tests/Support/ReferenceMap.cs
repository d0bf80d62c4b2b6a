using System.Numerics;
using Driver.Kernel.IommuPt;

namespace Driver.Kernel.Tests.Support;

/// <summary>
/// The reference the page table is checked against: a sorted map of
/// non-overlapping entries (iova, size, oa, prot) with the semantics of each
/// operation written out plainly, entry by entry.
/// </summary>
internal sealed class ReferenceMap
{
    private readonly SortedList<ulong, Entry> _entries = [];

    public readonly record struct Entry(ulong Iova, ulong Size, ulong Oa, IommuProt Prot)
    {
        public ulong Last => Iova + (Size - 1);
    }

    public IEnumerable<Entry> Entries => _entries.Values;

    public int Count => _entries.Count;

    public Entry? Find(ulong va)
    {
        int index = FloorIndex(va);
        if (index < 0)
            return null;
        var entry = _entries.Values[index];
        return va <= entry.Last ? entry : null;
    }

    public bool Overlaps(ulong start, ulong last)
    {
        int index = FloorIndex(last);
        return index >= 0 && _entries.Values[index].Last >= start;
    }

    // Index of the last entry starting at or below va, -1 for none.
    private int FloorIndex(ulong va)
    {
        var keys = _entries.Keys;
        int lo = 0;
        int hi = keys.Count - 1;
        int found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (keys[mid] <= va)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>Maps page after page of one size; the first page that overlaps anything stops it.</summary>
    public (Errno Err, ulong Mapped) Map(ulong iova, ulong oa, ulong length, int pageLg2, IommuProt prot)
    {
        ulong size = 1UL << pageLg2;
        for (ulong done = 0; done < length; done += size)
        {
            if (Overlaps(iova + done, iova + done + (size - 1)))
                return (Errno.EADDRINUSE, done);
            _entries.Add(iova + done, new Entry(iova + done, size, oa + done, prot));
        }
        return (Errno.Ok, length);
    }

    /// <summary>Removes whole entries from iova on; never splits; stops at a hole.</summary>
    public (Errno Err, ulong Unmapped) Unmap(ulong iova, ulong length)
    {
        var first = Find(iova);
        if (first is null)
            return (Errno.ENOENT, 0);
        if (first.Value.Iova != iova)
            return (Errno.EINVAL, 0);
        ulong last = iova + (length - 1);
        ulong pos = iova;
        while (true)
        {
            if (!_entries.TryGetValue(pos, out var entry))
                return (Errno.ENOENT, pos - iova);
            _entries.Remove(pos);
            pos += entry.Size;
            if (entry.Last >= last)
                return (Errno.Ok, pos - iova);
        }
    }

    /// <summary>Splits the entry that cut falls strictly inside into the largest aligned pieces of <paramref name="sizes"/>.</summary>
    public void Cut(ulong cut, ulong sizes)
    {
        var entry = Find(cut);
        if (entry is not { } e || e.Iova == cut)
            return;
        _entries.Remove(e.Iova);
        Tile(e.Iova, e.Oa, e.Size, e.Prot, sizes, cut);
    }

    /// <summary>Re-tiles every run of linear, same-access entries inside the range with the largest pieces.</summary>
    public void Merge(ulong iova, ulong length, ulong sizes)
    {
        ulong last = iova + (length - 1);
        var inside = _entries.Values.SkipWhile(e => e.Iova < iova).TakeWhile(e => e.Last <= last).ToList();
        int i = 0;
        while (i < inside.Count)
        {
            int j = i + 1;
            while (j < inside.Count && inside[j].Iova == inside[j - 1].Last + 1
                   && inside[j].Oa == inside[j - 1].Oa + inside[j - 1].Size && inside[j].Prot == inside[i].Prot)
                j++;
            ulong runSize = inside[j - 1].Last - inside[i].Iova + 1;
            for (int k = i; k < j; k++)
                _entries.Remove(inside[k].Iova);
            Tile(inside[i].Iova, inside[i].Oa, runSize, inside[i].Prot, sizes, cut: 0);
            i = j;
        }
    }

    private void Tile(ulong va, ulong oa, ulong length, IommuProt prot, ulong sizes, ulong cut)
    {
        ulong done = 0;
        while (done < length)
        {
            ulong p = va + done;
            int lg2 = -1;
            for (ulong s = sizes; s != 0;)
            {
                int candidate = BitOperations.Log2(s);
                s &= ~(1UL << candidate);
                ulong size = 1UL << candidate;
                bool crosses = cut > p && cut - p < size;
                if (((p | (oa + done)) & (size - 1)) == 0 && size <= length - done && !crosses)
                {
                    lg2 = candidate;
                    break;
                }
            }
            if (lg2 < 0)
                throw new InvalidOperationException("no piece fits: the test is wrong");
            ulong piece = 1UL << lg2;
            _entries.Add(p, new Entry(p, piece, oa + done, prot));
            done += piece;
        }
    }
}
