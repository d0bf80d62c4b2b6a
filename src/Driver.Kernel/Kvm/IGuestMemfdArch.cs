namespace Driver.Kernel.Kvm;

/// <summary>
/// The architecture's part of guest_memfd (SNP: the RMP), kvm_arch_gmem_prepare and
/// kvm_arch_gmem_invalidate plus the conversion steps of the in-place conversion series.
/// The conversion calls come from execute_work with the file's invalidate lock held
/// exclusively, and each has an inverse that a rollback uses: <see cref="SplitFolio"/> and
/// <see cref="UnsplitFolio"/>, <see cref="MakeShared"/> and <see cref="MakePrivate"/>. Pages
/// are named by the file, their page index in it and their frame, so the architecture can
/// find the guest frame a memslot gives them. A VM without protected memory has none.
/// </summary>
public interface IGuestMemfdArch
{
    /// <summary>A folio of 2^<paramref name="order"/> pages is about to become 4K pages (SNP: PSMASH its RMP entry if it is one 2M entry).</summary>
    Errno SplitFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order);

    /// <summary>The inverse of a <see cref="SplitFolio"/> that succeeded, for rollback: the RMP exactly as before the split.</summary>
    Errno UnsplitFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order);

    /// <summary>
    /// The pages of a former folio, all private now, become one folio again (SNP: one 2M RMP entry when
    /// the CPU allows it; else the entries stay 4K, which is no error). Not undone.
    /// </summary>
    Errno MergeFolio(GuestMemfd file, ulong firstIndex, ulong firstPfn, int order);

    /// <summary>A private page becomes shared (SNP: RMPUPDATE to hypervisor-owned at 4K), or the inverse of <see cref="MakePrivate"/>.</summary>
    Errno MakeShared(GuestMemfd file, ulong index, ulong pfn);

    /// <summary>A shared page becomes private (SNP: RMPUPDATE assigned to the guest at its GPA), or the inverse of <see cref="MakeShared"/>.</summary>
    Errno MakePrivate(GuestMemfd file, ulong index, ulong pfn);

    /// <summary>
    /// kvm_arch_gmem_prepare at fault-in: the private folio of 2^<paramref name="order"/> pages that holds
    /// <paramref name="pfn"/>, mapped at guest frame <paramref name="gfn"/>, is made the guest's at the largest
    /// size it can be; <paramref name="mappableOrder"/> says which (the RMP entry's, SNP's
    /// private_max_mapping_level), at most <paramref name="order"/>.
    /// </summary>
    Errno Prepare(ulong gfn, ulong pfn, int order, out int mappableOrder);

    /// <summary>Whether <paramref name="pfn"/> lies in one 2M entry of the architecture's own table (SNP: a 2M RMP entry).</summary>
    bool IsHuge(ulong pfn);

    /// <summary>
    /// The 2M entry over the run of <paramref name="headPfn"/> becomes 4K entries, each keeping its state, while the
    /// folio stays whole (SNP: sev_handle_rmp_fault's PSMASH). Only through <see cref="GuestMemfd.SmashHuge"/>, with the
    /// invalidate lock held exclusively and the notifiers' 2M mappings of the run cut first. Ok when the run is 4K already.
    /// </summary>
    Errno SmashHuge(ulong headPfn);

    /// <summary>
    /// kvm_arch_gmem_invalidate: the file lets go of 2^<paramref name="order"/> frames from
    /// <paramref name="firstPfn"/>. Ok when they may go back to the allocator; else they must
    /// never be freed (SNP: a page that cannot be made hypervisor-owned again is leaked).
    /// </summary>
    Errno Invalidate(ulong firstPfn, int order);
}
