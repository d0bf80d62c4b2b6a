using Driver.Kernel.Kvm;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// <see cref="IGuestMemfdPages"/> over a <see cref="GuestMemfd"/>. <paramref name="rmpMaxOrder"/>
/// is the SNP host's say in the I/O page size (Linux's sev_gmem_max_mapping_level: the order of
/// the RMP entry that governs a frame, 0 when it is 4K or not assigned); null off SNP, where the
/// folio alone decides.
/// </summary>
public sealed class GuestMemfdPages(GuestMemfd file, Func<ulong, int>? rmpMaxOrder = null) : IGuestMemfdPages
{
    private readonly GuestMemfd _file = file ?? throw new ArgumentNullException(nameof(file));

    public object File => _file;

    public ulong Size => _file.Size;

    public bool Lookup(ulong index, out GuestMemfdPage page)
    {
        page = default;
        if (!_file.LookupPage(index, out ulong pfn, out int order, out bool shared))
            return false;
        if (rmpMaxOrder is not null)
            order = Math.Min(order, rmpMaxOrder(pfn));
        page = new GuestMemfdPage(pfn, order, shared);
        return true;
    }

    public IDisposable AddNotifier(IGuestMemfdNotifier notifier, ulong start, ulong end) => _file.AddNotifier(notifier, start, end);
}
