using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>
/// SNP's part of guest_memfd (KVM's sev_gmem_prepare, sev_gmem_invalidate and the RMP steps of an
/// in-place conversion) for the guest of one ASID. Private pages are assigned in the RMP at their
/// GPA, which the bound memslot gives; fault-in makes a 2M folio one 2M entry when nothing of its
/// run is assigned yet, else 4K. A split PSMASHes the 2M entry; making a page shared is a 4K
/// RMPUPDATE to the hypervisor, making it private one assigning it to the guest, not validated.
/// Merging back: the CPU has RMPUPDATE at 2M, which writes a not-validated entry and gives OVERLAP
/// unless all 512 entries already share one state, so it is tried only when a page of the run was
/// made private since (the run is then all validated-off, or the CPU refuses and it stays 4K, which
/// the fault path respects). Firmware's SNP_PAGE_UNSMASH keeps the validated state and is used only
/// to undo a split in a rollback. Thread-safe; calls may come with the file's invalidate lock held.
/// </summary>
public sealed class SnpGuestMemfdArch : IGuestMemfdArch
{
    internal const int PagesPer2M = 512;
    private const int HugeOrder = 9;

    private readonly ISnpRmpHelpers _rmp;
    private readonly IGuestMemfdGfnLookup _gfns;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, SnpRmpBlock> _blocks = [];

    public SnpGuestMemfdArch(ISnpRmpHelpers rmp, ushort asid, IGuestMemfdGfnLookup gfns, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(rmp);
        ArgumentNullException.ThrowIfNull(gfns);
        if (asid == 0)
            throw new ArgumentOutOfRangeException(nameof(asid), "an SNP guest has an ASID above 0");
        _rmp = rmp;
        _gfns = gfns;
        Asid = asid;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Kvm.SnpGuestMemfdArch");
    }

    public ushort Asid { get; }

    /// <summary>The RMP entry of <paramref name="pfn"/> as KVM set it: 9 for a 2M guest entry, 0 for a 4K one, -1 when hypervisor-owned.</summary>
    public int RmpOrder(ulong pfn)
    {
        lock (_lock)
        {
            if (!_blocks.TryGetValue(Head(pfn), out SnpRmpBlock? block))
                return -1;
            return block.Whole ? HugeOrder : block.IsAssigned(Offset(pfn)) ? 0 : -1;
        }
    }

    /// <summary>2M runs whose RMP state KVM tracks (host memory spent on this bookkeeping).</summary>
    public int TrackedBlocks
    {
        get
        {
            lock (_lock)
                return _blocks.Count;
        }
    }

    public Errno Prepare(ulong gfn, ulong pfn, int order, out int mappableOrder)
    {
        mappableOrder = 0;
        lock (_lock)
        {
            SnpRmpBlock block = Block(pfn);
            if (block.Whole)
            {
                mappableOrder = Math.Min(order, HugeOrder);
                return Errno.Ok;
            }
            if (block.IsAssigned(Offset(pfn)))
                return Errno.Ok;
            // Linux's is_large_rmp_possible: a 2M folio, nothing of its run assigned, GPA and PFN alike within 2M.
            if (order >= HugeOrder && block.AssignedCount == 0 && (gfn & (PagesPer2M - 1)) == (pfn & (PagesPer2M - 1)))
            {
                ulong headGpa = (gfn & ~(ulong)(PagesPer2M - 1)) << Page.Shift;
                Errno huge = _rmp.RmpMakePrivate(Head(pfn) << Page.Shift, headGpa, RmpPageLevel.Level2M, Asid);
                if (huge != Errno.Ok)
                {
                    Forget(pfn, block);
                    return Failed(huge, "prepare at 2M", Head(pfn));
                }
                block.SetRun(whole: true);
                mappableOrder = HugeOrder;
                Log.Prepared(_logger, gfn & ~(ulong)(PagesPer2M - 1), Head(pfn), HugeOrder);
                return Errno.Ok;
            }
            Errno e = _rmp.RmpMakePrivate(pfn << Page.Shift, gfn << Page.Shift, RmpPageLevel.Level4K, Asid);
            if (e != Errno.Ok)
            {
                Forget(pfn, block);
                return Failed(e, "prepare at 4K", pfn);
            }
            block.SetAssigned(Offset(pfn), true);
            Log.Prepared(_logger, gfn, pfn, 0);
            return Errno.Ok;
        }
    }

    public Errno SplitFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order)
    {
        if (order < HugeOrder)
            return Errno.Ok;
        lock (_lock)
        {
            if (!_blocks.TryGetValue(Head(firstPfn), out SnpRmpBlock? block) || !block.Whole)
                return Errno.Ok;
            Errno e = SmashLocked(block, Head(firstPfn));
            if (e == Errno.Ok)
                block.SmashedBySplit = true;
            return e;
        }
    }

    public Errno UnsplitFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order)
    {
        if (order < HugeOrder)
            return Errno.Ok;
        lock (_lock)
        {
            if (!_blocks.TryGetValue(Head(firstPfn), out SnpRmpBlock? block) || !block.SmashedBySplit)
                return Errno.Ok;
            Errno e = _rmp.Unsmash(Head(firstPfn) << Page.Shift);
            if (e != Errno.Ok)
                return Failed(e, "unsmash", Head(firstPfn));
            block.SetRun(whole: true);
            block.SmashedBySplit = false;
            return Errno.Ok;
        }
    }

    public Errno MergeFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order)
    {
        if (order < HugeOrder)
            return Errno.Ok;
        ulong head = Head(firstPfn);
        lock (_lock)
        {
            if (!_blocks.TryGetValue(head, out SnpRmpBlock? block) || block.Whole)
                return Errno.Ok;
            bool fresh = block.FreshPrivate;
            block.FreshPrivate = false;
            block.SmashedBySplit = false;
            if (!fresh || block.AssignedCount != PagesPer2M || !Contiguous(file, firstIndex, out ulong headGfn))
            {
                Log.MergeKept4K(_logger, head, fresh ? "the run is not one guest range at one 2M GPA" : "no page became private since the split");
                return Errno.Ok;
            }
            Errno e = _rmp.TryRmpMakePrivate2M(head << Page.Shift, headGfn << Page.Shift, Asid);
            if (e == Errno.EBUSY)
            {
                Log.MergeKept4K(_logger, head, "the guest keeps pages of the run validated (RMPUPDATE at 2M: OVERLAP)");
                return Errno.Ok;
            }
            if (e != Errno.Ok)
                return Failed(e, "RMPUPDATE at 2M", head);
            block.SetRun(whole: true);
            Log.RmpMerged(_logger, head, headGfn);
            return Errno.Ok;
        }
    }

    public Errno MakeShared(GuestMemfd file, ulong index, ulong pfn)
    {
        lock (_lock)
        {
            if (!_blocks.TryGetValue(Head(pfn), out SnpRmpBlock? block) || !block.IsAssigned(Offset(pfn)))
                return Errno.Ok;
            if (block.Whole)
                return Failed(Errno.EINVAL, "make shared inside a 2M entry", pfn);
            Errno e = _rmp.RmpMakeShared(pfn << Page.Shift, RmpPageLevel.Level4K);
            if (e != Errno.Ok)
                return Failed(e, "make shared", pfn);
            block.SetAssigned(Offset(pfn), false);
            Forget(pfn, block);
            return Errno.Ok;
        }
    }

    public Errno MakePrivate(GuestMemfd file, ulong index, ulong pfn)
    {
        ArgumentNullException.ThrowIfNull(file);
        // A page no memslot binds has no GPA yet: it stays hypervisor-owned and fault-in prepares it.
        if (!_gfns.TryGetGfn(file, index, out ulong gfn))
            return Errno.Ok;
        lock (_lock)
        {
            SnpRmpBlock block = Block(pfn);
            if (block.IsAssigned(Offset(pfn)))
                return Errno.Ok;
            Errno e = _rmp.RmpMakePrivate(pfn << Page.Shift, gfn << Page.Shift, RmpPageLevel.Level4K, Asid);
            if (e != Errno.Ok)
            {
                Forget(pfn, block);
                return Failed(e, "make private", pfn);
            }
            block.SetAssigned(Offset(pfn), true);
            block.FreshPrivate = true;
            return Errno.Ok;
        }
    }

    public Errno Invalidate(ulong firstPfn, int order)
    {
        int pages = 1 << order;
        lock (_lock)
        {
            if (!_blocks.TryGetValue(Head(firstPfn), out SnpRmpBlock? block))
                return Errno.Ok;
            Errno result = Errno.Ok;
            if (block.Whole && order >= HugeOrder)
            {
                // Shared at 2M, then smashed, so the frames go back as fresh memory is: 4K hypervisor entries,
                // which a later 4K RMPUPDATE may change (inside a 2M entry it would get OVERLAP).
                result = _rmp.RmpMakeShared(Head(firstPfn) << Page.Shift, RmpPageLevel.Level2M);
                if (result == Errno.Ok)
                {
                    block.Clear();
                    result = _rmp.Psmash(Head(firstPfn) << Page.Shift);
                }
            }
            else if (block.Whole)
            {
                // The truncation's should_proceed took every mapping of the range away first, cutting at its edges.
                result = SmashLocked(block, Head(firstPfn));
            }
            if (result == Errno.Ok && !block.Whole)
            {
                for (int i = 0; i < pages; i++)
                {
                    int offset = Offset(firstPfn) + i;
                    if (!block.IsAssigned(offset))
                        continue;
                    Errno e = _rmp.RmpMakeShared((firstPfn + (ulong)i) << Page.Shift, RmpPageLevel.Level4K);
                    if (e == Errno.Ok)
                        block.SetAssigned(offset, false);
                    else
                        result = e;
                }
            }
            if (result != Errno.Ok)
            {
                // sev_gmem_invalidate: a page the host cannot have back must never be used again.
                _rmp.LeakPages(firstPfn << Page.Shift, pages);
                Log.Leaked(_logger, firstPfn, pages, result);
                return result;
            }
            Forget(firstPfn, block);
            return Errno.Ok;
        }
    }

    public bool IsHuge(ulong pfn)
    {
        lock (_lock)
            return _blocks.TryGetValue(Head(pfn), out SnpRmpBlock? block) && block.Whole;
    }

    /// <summary>
    /// sev_handle_rmp_fault's PSMASH: the guest touched a 4K page inside a 2M RMP entry at a 4K size (PVALIDATE, or
    /// a 4K nested mapping). <see cref="GuestMemfd.SmashHuge"/> calls it once the 2M mappings of the run are cut;
    /// the folio stays 2M, and a later split's rollback leaves the run 4K, as it found it. Ok when it is 4K already.
    /// </summary>
    public Errno SmashHuge(ulong headPfn)
    {
        lock (_lock)
        {
            if (!_blocks.TryGetValue(Head(headPfn), out SnpRmpBlock? block) || !block.Whole)
                return Errno.Ok;
            return SmashLocked(block, Head(headPfn));
        }
    }

    private Errno SmashLocked(SnpRmpBlock block, ulong headPfn)
    {
        Errno e = _rmp.Psmash(headPfn << Page.Shift);
        if (e != Errno.Ok)
            return Failed(e, "PSMASH", headPfn);
        block.SetRun(whole: false);
        Log.Smashed(_logger, headPfn);
        return Errno.Ok;
    }

    // The guest frames of the run's 512 pages: one range from a 2M-aligned GPA.
    private bool Contiguous(GuestMemfd file, ulong firstIndex, out ulong headGfn)
    {
        if (!_gfns.TryGetGfn(file, firstIndex, out headGfn) || (headGfn & (PagesPer2M - 1)) != 0)
            return false;
        return _gfns.TryGetGfn(file, firstIndex + PagesPer2M - 1, out ulong lastGfn) && lastGfn == headGfn + PagesPer2M - 1;
    }

    private SnpRmpBlock Block(ulong pfn)
    {
        ulong head = Head(pfn);
        if (!_blocks.TryGetValue(head, out SnpRmpBlock? block))
        {
            block = new SnpRmpBlock();
            _blocks.Add(head, block);
        }
        return block;
    }

    private void Forget(ulong pfn, SnpRmpBlock block)
    {
        if (block.Empty && !block.SmashedBySplit)
            _blocks.Remove(Head(pfn));
    }

    private Errno Failed(Errno e, string what, ulong pfn)
    {
        Log.RmpStepFailed(_logger, what, pfn, e);
        return e;
    }

    private static ulong Head(ulong pfn) => pfn & ~(ulong)(PagesPer2M - 1);

    private static int Offset(ulong pfn) => (int)(pfn & (PagesPer2M - 1));
}
