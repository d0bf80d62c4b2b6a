using Driver.Kernel.Mm;

namespace Driver.Kernel.Iommufd;

/// <summary>Pages of a memfd by offset, through the open file (Linux IOPT_ADDRESS_FILE, memfd_pin_folios).</summary>
public sealed class FilePagesProvider(MemFdHandle file) : IPageProvider
{
    private readonly MemFdHandle _file = file ?? throw new ArgumentNullException(nameof(file));

    public Errno Pin(ulong index, int count, bool write, Span<ulong> pfns) => _file.PinPages(index * IoPageTable.PageSize, count, write, pfns);

    public void Unpin(ReadOnlySpan<ulong> pfns) => _file.File.UnpinPages(pfns);
}
