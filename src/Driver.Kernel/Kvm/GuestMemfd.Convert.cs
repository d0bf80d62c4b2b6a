using Driver.Hw.Kvm;
using Driver.Kernel.Mm;

namespace Driver.Kernel.Kvm;

/// <summary>In-place conversion between shared and private (KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd).</summary>
public sealed partial class GuestMemfd
{
    /// <summary>
    /// KVM_SET_MEMORY_ATTRIBUTES2: <paramref name="argument"/> is a struct kvm_memory_attributes2
    /// (<see cref="KvmMemoryAttributes2"/>). Attributes PRIVATE makes [offset, offset + size) private, 0
    /// makes it shared. EINVAL for a buffer of another size, unknown attributes or flags, ZERO with
    /// PRESERVE, reserved bytes set, an empty, unaligned or out-of-file range; EAGAIN when a page
    /// about to become private holds a reference beyond the file's own (error_offset says which);
    /// ENOMEM; the errno of a notifier or of the architecture. On failure nothing has changed and
    /// error_offset is written back.
    /// </summary>
    public Errno SetMemoryAttributes2(Span<byte> argument)
    {
        if (argument.Length != KvmMemoryAttributes2.Bytes)
            return Errno.EINVAL;
        var attrs = KvmMemoryAttributes2.FromBytes(argument);
        const ulong Modes = (ulong)SetMemoryAttributes2Flags.Zero | (ulong)SetMemoryAttributes2Flags.Preserve;
        if ((attrs.Flags & ~Modes) != 0 || attrs.Flags == Modes || (attrs.Attributes & ~(ulong)KvmMemoryAttributes.Private) != 0 || !attrs.IsValid)
            return Errno.EINVAL;
        ulong offset = attrs.Offset;
        ulong size = attrs.Size;
        if (size == 0 || ((offset | size) & Page.Mask) != 0 || offset > Size || size > Size - offset)
            return Errno.EINVAL;
        bool toPrivate = attrs.Attributes != 0;
        bool zero = attrs.Flags == (ulong)SetMemoryAttributes2Flags.Zero;
        Errno e = Convert(offset, offset + size, toPrivate, zero, out ulong errorOffset);
        if (e != Errno.Ok)
            attrs.WithErrorOffset(errorOffset).CopyTo(argument);
        return e;
    }

    private Errno Convert(ulong start, ulong end, bool toPrivate, bool zero, out ulong errorOffset)
    {
        errorOffset = start;
        ulong first = start >> Page.Shift;
        ulong last = end >> Page.Shift;
        var reason = toPrivate ? InvalidateReason.ToPrivate : InvalidateReason.ToShared;
        _invalidateLock.EnterWriteLock();
        try
        {
            if (_released)
                return Errno.EFAULT;
            if (_shareability.All(first, last, shared: !toPrivate))
                return Errno.Ok;
            List<Subscription> told = Overlapping(start, end);
            foreach (Subscription s in told)
                s.Notifier.InvalidateBegin(this, start, end, reason);
            try
            {
                foreach (Subscription s in told)
                {
                    Errno refused = s.Notifier.ShouldProceed(this, start, end, reason);
                    if (refused != Errno.Ok)
                        return refused;
                }
                if (toPrivate)
                {
                    // Host mappings go (which takes their references); then only the file may hold a page.
                    _mappers.Zap(this, first, last);
                    Errno busy = CheckNoUsers(first, last, out errorOffset);
                    if (busy != Errno.Ok)
                        return busy;
                }
                Errno e = ExecuteWork(first, last, toPrivate, zero, out errorOffset);
                if (e == Errno.Ok)
                    Log.Converted(_logger, start, end - start, toPrivate ? "private" : "shared");
                return e;
            }
            finally
            {
                foreach (Subscription s in told)
                    s.Notifier.InvalidateEnd(this, start, end, reason);
            }
        }
        finally
        {
            _invalidateLock.ExitWriteLock();
        }
    }

    private Errno CheckNoUsers(ulong first, ulong last, out ulong errorOffset)
    {
        errorOffset = 0;
        lock (_lock)
        {
            foreach (var (index, pfn) in PresentIn(first, last))
            {
                int refs = _pages.RefCount(pfn);
                if (refs > 1)
                {
                    errorOffset = index << Page.Shift;
                    Log.ConversionBusy(_logger, errorOffset, refs);
                    return Errno.EAGAIN;
                }
            }
        }
        return Errno.Ok;
    }

    // execute_work: split (to shared), the architecture's change page by page, the new shareability,
    // merge (to private), zeroing. Every fallible step comes before the first one that cannot be undone.
    private Errno ExecuteWork(ulong first, ulong last, bool toPrivate, bool zero, out ulong errorOffset)
    {
        errorOffset = first << Page.Shift;
        var undo = new Stack<Action>();
        lock (_lock)
        {
            // The range tree's nodes are allocated before anything changes (kvm_gmem_mas_preallocate).
            if (_pages.InjectFailure())
                return Errno.ENOMEM;
            Errno e = Errno.Ok;
            ulong at = first;
            if (!toPrivate)
            {
                foreach (GuestMemfdFolio huge in HugeFoliosIn(first, last))
                {
                    at = huge.FirstIndex;
                    e = SplitLocked(huge);
                    if (e != Errno.Ok)
                        break;
                    undo.Push(() => MergeLocked(huge.FirstIndex, rollback: true));
                }
            }
            if (e == Errno.Ok)
                e = ArchConvert(first, last, toPrivate, undo, ref at);
            if (e != Errno.Ok)
            {
                int steps = undo.Count;
                while (undo.Count > 0)
                    undo.Pop()();
                errorOffset = at << Page.Shift;
                Log.ConversionRolledBack(_logger, first << Page.Shift, (last - first) << Page.Shift, e, errorOffset, steps);
                return e;
            }

            _shareability.Set(first, last, shared: !toPrivate);
            if (toPrivate)
            {
                ulong block = first & ~(GuestMemfdFolio.HugePages - 1);
                for (; block < last; block += GuestMemfdFolio.HugePages)
                {
                    if (block + GuestMemfdFolio.HugePages <= _shareability.Pages && _shareability.All(block, block + GuestMemfdFolio.HugePages, shared: false))
                        MergeLocked(block, rollback: false);
                }
            }
            if (zero)
            {
                foreach (var (_, pfn) in PresentIn(first, last))
                    _memory.Fill(pfn << Page.Shift, Page.Size, 0);
            }
        }
        return Errno.Ok;
    }

    // SNP's RMP change for every present page whose state changes; the hook where the RMP work goes.
    private Errno ArchConvert(ulong first, ulong last, bool toPrivate, Stack<Action> undo, ref ulong at)
    {
        if (_arch is null)
            return Errno.Ok;
        IGuestMemfdArch arch = _arch;
        foreach (var (index, pfn) in PresentIn(first, last))
        {
            if (_shareability.IsShared(index) != toPrivate)
                continue;
            at = index;
            Errno e = toPrivate ? arch.MakePrivate(this, index, pfn) : arch.MakeShared(this, index, pfn);
            if (e != Errno.Ok)
                return e;
            ulong page = pfn;
            ulong pageIndex = index;
            undo.Push(() =>
            {
                Errno back = toPrivate ? arch.MakeShared(this, pageIndex, page) : arch.MakePrivate(this, pageIndex, page);
                if (back != Errno.Ok)
                    Log.RollbackStepFailed(_logger, back, toPrivate ? "page made private" : "page made shared", page);
            });
        }
        return Errno.Ok;
    }

    private List<(ulong Index, ulong Pfn)> PresentIn(ulong first, ulong last)
    {
        var pages = new List<(ulong, ulong)>();
        for (ulong index = first; index < last; index++)
        {
            if (FindFolio(index) is { } folio)
                pages.Add((index, folio.PfnOf(index)));
        }
        return pages;
    }
}
