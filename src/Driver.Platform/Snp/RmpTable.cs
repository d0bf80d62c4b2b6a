using Driver.Hw.Sev;
using Driver.Hw.Interfaces;
using Driver.Platform.Memory;

namespace Driver.Platform.Snp;

/// <summary>
/// The reverse map table: one 16-byte <see cref="RmpEntry"/> per 4 KiB system page,
/// architecturally at RMP_BASE + 0x4000 + PFN * 16 (<see cref="EntryAddress"/>). A 2 MiB
/// entry is the entry of the 2 MiB aligned page with PageSize set; the hardware looks it up
/// first (as Linux's rmp lookup does) and its 511 followers carry the same state.
/// <para>
/// Only the CPU's SNP instructions, the firmware and the IOMMU reach the table, all through
/// this class, so the entries are kept beside simulated memory, one record per 2 MiB run: a run
/// written whole (a 2 MiB RMPUPDATE, PSMASH, UNSMASH) is its head entry, from which every entry
/// follows (<see cref="RunEntry"/>); only a 4 KiB write that makes one entry differ expands the run
/// to its 512 entries, until the run is written whole again. Runs never written read as zeros, as
/// untouched memory does. A TiB of guest memory in 2 MiB entries costs a few MiB of host memory,
/// not the 4 GiB of its entries. One thread drives a machine, so no lock guards the records.
/// </para>
/// </summary>
public sealed class RmpTable
{
    /// <summary>Bookkeeping bytes in front of the entries.</summary>
    public const ulong HeaderBytes = 0x4000;

    public const ulong EntryBytes = 16;

    public const int PagesPer2M = SnpPageSize.EntriesPer2M;

    // The GPA field (bits 50:12) holds addresses below 2^51.
    private const ulong GpaLimit = 1UL << 51;

    // Runs in chunks of 512 (1 GiB of covered memory), a chunk allocated when a run of it is first written.
    private const int RunsPerChunkShift = 9;
    private const int RunsPerChunk = 1 << RunsPerChunkShift;

    private readonly Run[]?[] _chunks;

    /// <param name="memory">The memory that holds the table at <paramref name="rmpBase"/> (the entries are kept beside it).</param>
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
        ArgumentNullException.ThrowIfNull(memory);
        Base = rmpBase;
        CoveredBytes = coveredBytes;
        ulong runs = coveredBytes >> SnpPageSize.Shift2M;
        _chunks = new Run[]?[(runs + RunsPerChunk - 1) >> RunsPerChunkShift];
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

    /// <summary>The entry of <paramref name="pfn"/>; zeros beyond the covered memory, as past a written run.</summary>
    public RmpEntry Read(ulong pfn)
    {
        ulong run = pfn >> (SnpPageSize.Shift2M - SnpPageSize.Shift4K);
        ulong chunk = run >> RunsPerChunkShift;
        if (chunk >= (ulong)_chunks.Length || _chunks[chunk] is not { } runs)
            return default;
        ref Run r = ref runs[run & (RunsPerChunk - 1)];
        ulong index = pfn & (PagesPer2M - 1);
        if (r.Entries is { } entries)
            return entries[index];
        return index == 0 ? r.Head : RunEntry(r.Head, r.Head.PageSize, index);
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
        ref Run r = ref RunOf(pfn);
        ulong index = pfn & (PagesPer2M - 1);
        if (r.Entries is null)
        {
            RmpEntry now = index == 0 ? r.Head : RunEntry(r.Head, r.Head.PageSize, index);
            if (now == entry)
                return;
            // The run's entries no longer all follow from its head: keep each.
            var entries = new RmpEntry[PagesPer2M];
            for (ulong i = 0; i < PagesPer2M; i++)
                entries[i] = i == 0 ? r.Head : RunEntry(r.Head, r.Head.PageSize, i);
            r.Entries = entries;
        }
        r.Entries[index] = entry;
    }

    /// <summary>
    /// Writes the 2 MiB run at <paramref name="headPfn"/> from one entry (RMPUPDATE of a 2 MiB
    /// page, PSMASH, SNP_PAGE_UNSMASH, a 2 MiB SNP_PAGE_RECLAIM), then raises <see cref="Changed"/> once.
    /// </summary>
    public void WriteRun(ulong headPfn, RmpEntry head, bool as2M)
    {
        if ((headPfn & (PagesPer2M - 1)) != 0)
            throw new ArgumentException("a run starts at a 2 MiB aligned PFN", nameof(headPfn));
        ref Run r = ref RunOf(headPfn);
        r.Head = RunEntry(head, as2M, 0);
        r.Entries = null;
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

    /// <summary>2 MiB runs whose 512 entries are kept one by one (a 4 KiB write made them differ).</summary>
    public int ExpandedRuns => _chunks.Sum(c => c?.Count(r => r.Entries is not null) ?? 0);

    private ref Run RunOf(ulong pfn)
    {
        // The last chunk may hold runs past the covered memory: the bound is the covered bytes, not the chunks.
        if (pfn >= CoveredBytes >> SnpPageSize.Shift4K)
            throw new ArgumentOutOfRangeException(nameof(pfn), $"pfn 0x{pfn:x} lies beyond the memory the RMP covers");
        ulong run = pfn >> (SnpPageSize.Shift2M - SnpPageSize.Shift4K);
        ulong chunk = run >> RunsPerChunkShift;
        Run[] runs = _chunks[chunk] ??= new Run[RunsPerChunk];
        return ref runs[run & (RunsPerChunk - 1)];
    }

    // A 2 MiB run: its head entry, and its 512 entries once they no longer follow from the head.
    private struct Run
    {
        public RmpEntry Head;
        public RmpEntry[]? Entries;
    }
}
