using Driver.Hw.Sev;
using Driver.Platform.Memory;

namespace Driver.Platform.Snp;

/// <summary>
/// The reverse map table in simulated memory: one 16-byte <see cref="RmpEntry"/>
/// per 4 KiB system page at RMP_BASE + 0x4000 + PFN * 16. A 2 MiB entry is the
/// entry of the 2 MiB aligned page with PageSize set; the hardware looks it up
/// first (as Linux's rmp lookup does) and its 511 followers carry the same state.
/// </summary>
public sealed class RmpTable
{
    /// <summary>Bookkeeping bytes in front of the entries.</summary>
    public const ulong HeaderBytes = 0x4000;

    public const ulong EntryBytes = 16;

    public const int PagesPer2M = 512;

    private readonly PhysicalMemory _memory;

    /// <param name="memory">Where the table lives.</param>
    /// <param name="rmpBase">4 KiB aligned RMP_BASE.</param>
    /// <param name="coveredBytes">System memory the table covers, from 0; a multiple of 2 MiB.</param>
    public RmpTable(PhysicalMemory memory, ulong rmpBase, ulong coveredBytes)
    {
        if ((rmpBase & 0xFFF) != 0)
            throw new ArgumentException("RMP_BASE must be 4 KiB aligned", nameof(rmpBase));
        if (coveredBytes == 0 || (coveredBytes & 0x1FFFFF) != 0)
            throw new ArgumentException("the RMP covers whole 2 MiB pages", nameof(coveredBytes));
        _memory = memory;
        Base = rmpBase;
        CoveredBytes = coveredBytes;
    }

    public ulong Base { get; }

    public ulong CoveredBytes { get; }

    /// <summary>Raised after any entry changes, with the first and last byte of system memory affected.</summary>
    public event Action<ulong, ulong>? Changed;

    public bool Covers(ulong spa) => spa < CoveredBytes;

    public ulong EntryAddress(ulong pfn) => Base + HeaderBytes + pfn * EntryBytes;

    public RmpEntry Read(ulong pfn)
    {
        ulong pa = EntryAddress(pfn);
        return new RmpEntry([_memory.ReadU64(pa), _memory.ReadU64(pa + 8)]);
    }

    /// <summary>The entry that governs <paramref name="pfn"/>: its 2 MiB entry if there is one.</summary>
    public RmpEntry ReadEffective(ulong pfn, out bool is2M)
    {
        var head = Read(pfn & ~(ulong)(PagesPer2M - 1));
        is2M = head.PageSize;
        return is2M ? head : Read(pfn);
    }

    /// <summary>Writes one entry. Raise <see cref="Changed"/> through <see cref="NotifyChanged"/> once a batch is done.</summary>
    public void Write(ulong pfn, RmpEntry entry)
    {
        ulong pa = EntryAddress(pfn);
        _memory.WriteU64(pa, entry.GetWord(0));
        _memory.WriteU64(pa + 8, entry.GetWord(1));
    }

    /// <summary>Turns the 2 MiB entry at <paramref name="headPfn"/> into 512 4 KiB entries of the same state (PSMASH).</summary>
    public void Split(ulong headPfn)
    {
        var head = Read(headPfn);
        for (ulong i = 0; i < PagesPer2M; i++)
            Write(headPfn + i, head.WithPageSize(false).WithGpa(head.Assigned ? head.Gpa + (i << 12) : 0));
        NotifyChanged(headPfn << 12, ((headPfn + PagesPer2M) << 12) - 1);
    }

    /// <summary>Folds the 512 entries from <paramref name="headPfn"/> into one 2 MiB entry with the head's state.</summary>
    public void Merge(ulong headPfn)
    {
        var head = Read(headPfn).WithPageSize(true);
        for (ulong i = 0; i < PagesPer2M; i++)
            Write(headPfn + i, head.WithGpa(head.Assigned ? head.Gpa + (i << 12) : 0));
        NotifyChanged(headPfn << 12, ((headPfn + PagesPer2M) << 12) - 1);
    }

    public void NotifyChanged(ulong firstSpa, ulong lastSpa) => Changed?.Invoke(firstSpa, lastSpa);
}
