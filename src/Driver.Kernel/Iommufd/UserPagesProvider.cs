using Driver.Kernel.Mm;

namespace Driver.Kernel.Iommufd;

/// <summary>Pages of a process's anonymous or file-backed memory, by user VA (Linux IOPT_ADDRESS_USER, pin_user_pages).</summary>
public sealed class UserPagesProvider(UserAddressSpace mm) : IPageProvider
{
    private readonly UserAddressSpace _mm = mm ?? throw new ArgumentNullException(nameof(mm));

    public Errno Pin(ulong index, int count, bool write, Span<ulong> pfns) => _mm.PinUserPages(index * IoPageTable.PageSize, count, write, pfns);

    public void Unpin(ReadOnlySpan<ulong> pfns) => _mm.UnpinUserPages(pfns);
}
