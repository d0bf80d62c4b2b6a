namespace Driver.Kernel.Kvm;

/// <summary>
/// A user of a guest_memfd range told when the range is taken away (kvm_gmem_invalidate_begin/end):
/// the KVM memslot bound to it, and later the IOMMU binding. Called with the file's invalidate
/// lock held exclusively. Offsets are bytes into the file, [start, end).
/// </summary>
public interface IGuestMemfdNotifier
{
    /// <summary>From now until <see cref="InvalidateEnd"/> no new mapping of the range may be made.</summary>
    void InvalidateBegin(GuestMemfd file, ulong start, ulong end, InvalidateReason reason);

    /// <summary>
    /// Drop the mappings of the range the reason asks for (zap the private stage-2 entries, flush);
    /// Ok to go on, or an errno that stops the operation (EAGAIN when the range is still in use).
    /// </summary>
    Errno ShouldProceed(GuestMemfd file, ulong start, ulong end, InvalidateReason reason);

    /// <summary>The range may be mapped again, in its new state when the operation succeeded.</summary>
    void InvalidateEnd(GuestMemfd file, ulong start, ulong end, InvalidateReason reason);

    /// <summary>
    /// [start, end), one 2M run of the file, is about to lose its 2M entry (SNP: PSMASH of its RMP
    /// entry, by a folio split or an RMP fault): cut every 2M mapping of it to 4K without changing
    /// what it maps (hitless), flushed before returning, so that nothing maps 2M over 4K entries once
    /// the smash is done. Ok when nothing maps the run at 2M; an errno stops the smash, which then does
    /// not happen. Linux's guest_memfd has no such hook (KVM smashes and zaps afterwards): it is part
    /// of the model of the seed-004 proposal, in Jason Gunthorpe's order (the mappings to 4K first,
    /// then PSMASH).
    /// </summary>
    Errno SplitHuge(GuestMemfd file, ulong start, ulong end);
}
