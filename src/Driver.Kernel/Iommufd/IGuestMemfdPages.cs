using Driver.Kernel.Kvm;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// The guest_memfd side of an IOMMU binding (the seam seed 004 proposes between iommufd and
/// guest_memfd): pages by file index, read without a reference or a pin, and the invalidation
/// notifier that replaces the pins. <see cref="GuestMemfdPages"/> is the one over a real file.
/// </summary>
public interface IGuestMemfdPages
{
    /// <summary>The file, to tell two bindings of the same one apart from others.</summary>
    object File { get; }

    /// <summary>Bytes in the file.</summary>
    ulong Size { get; }

    /// <summary>Page <paramref name="index"/> if it is present; false for a hole, a poisoned page or a file that is gone.</summary>
    bool Lookup(ulong index, out GuestMemfdPage page);

    /// <summary>Registers <paramref name="notifier"/> on file bytes [start, end); dispose to remove it.</summary>
    IDisposable AddNotifier(IGuestMemfdNotifier notifier, ulong start, ulong end);
}

/// <summary>
/// One present page of a guest_memfd as the IOMMU sees it: its frame, the largest order an I/O
/// page over it may have (its folio's, capped by the RMP entry on SNP), and its shareability.
/// </summary>
public readonly record struct GuestMemfdPage(ulong Pfn, int MaxOrder, bool Shared);
