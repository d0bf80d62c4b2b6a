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
}
