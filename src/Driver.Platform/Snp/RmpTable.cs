using Driver.Hw.Sev;
using Driver.Hw.Interfaces;
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

    public const int PagesPer2M = SnpPageSize.EntriesPer2M;

    // The GPA field (bits 50:12) holds addresses below 2^51.
    private const ulong GpaLimit = 1UL << 51;

    private readonly PhysicalMemory _memory;

    /// <param name="memory">Where the table lives.</param>
    /// <param name="rmpBase">4 KiB aligned RMP_BASE.</param>
    /// <param name="coveredBytes">System memory the table covers, from 0; a multiple of 2 MiB.</param>
    public RmpTable(PhysicalMemory memory, ulong rmpBase, ulong coveredBytes)
    {
        if (!SnpPageSize.IsAligned(rmpBase, SnpPageSize.Size4K))
            throw new ArgumentException("RMP_BASE must be 4 KiB aligned", nameof(rmpBase));
        if (coveredBytes == 0 || !SnpPageSize.IsAligned(coveredBytes, SnpPageSize.Size2M))
            throw new ArgumentException("the RMP covers whole 2 MiB pages", nameof(coveredBytes));
        if (coveredBytes > IPhysicalMemory.Limit)
            throw new ArgumentException("the RMP covers at most the physical address space", nameof(coveredBytes));
        _memory = memory;
        Base = rmpBase;
        CoveredBytes = coveredBytes;
    }

    public ulong Base { get; }

    public ulong CoveredBytes { get; }

    /// <summary>Whether <paramref name="gpa"/> fits an entry's GPA field.</summary>
    public static bool GpaFits(ulong gpa) => gpa < GpaLimit;

    /// <summary>Raised after any entry changes, with the first and last byte of system memory affected.</summary>
    public event Action<ulong, ulong>? Changed;

    /// <summary>Whether the table has an entry for <paramref name="spa"/> (which is then a physical address).</summary>
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
        var head = Read(SnpPageSize.HeadPfn(pfn));
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

    /// <summary>
    /// Writes the 2 MiB run at <paramref name="headPfn"/> from one entry (RMPUPDATE of a 2 MiB
    /// page, PSMASH, SNP_PAGE_UNSMASH, a 2 MiB SNP_PAGE_RECLAIM), then raises <see cref="Changed"/> once.
    /// </summary>
    public void WriteRun(ulong headPfn, RmpEntry head, bool as2M)
    {
        for (ulong i = 0; i < PagesPer2M; i++)
            Write(headPfn + i, RunEntry(head, as2M, i));
        NotifyChanged(headPfn << SnpPageSize.Shift4K, ((headPfn + PagesPer2M) << SnpPageSize.Shift4K) - 1);
    }

    /// <summary>
    /// Entry <paramref name="index"/> of a run written from <paramref name="head"/>: the head's
    /// state with PageSize = <paramref name="as2M"/>. A guest's run maps consecutive GPAs from the
    /// head's (the field wraps rather than overflow); any other run maps no guest memory and every
    /// entry repeats the head's GPA (0, as firmware and the hypervisor write it).
    /// </summary>
    public static RmpEntry RunEntry(RmpEntry head, bool as2M, ulong index) =>
        head.WithPageSize(as2M).WithGpa(RmpStates.IsGuestPrivate(head) ? (head.Gpa + (index << SnpPageSize.Shift4K)) & (GpaLimit - 1) : head.Gpa);

    /// <summary>Turns the 2 MiB entry at <paramref name="headPfn"/> into 512 4 KiB entries of the same state (PSMASH).</summary>
    public void Split(ulong headPfn) => WriteRun(headPfn, Read(headPfn), as2M: false);

    /// <summary>Folds the 512 entries from <paramref name="headPfn"/> into one 2 MiB entry with the head's state (UNSMASH).</summary>
    public void Merge(ulong headPfn) => WriteRun(headPfn, Read(headPfn), as2M: true);

    public void NotifyChanged(ulong firstSpa, ulong lastSpa) => Changed?.Invoke(firstSpa, lastSpa);
}
