namespace Driver.Kernel.Iommufd;

/// <summary>
/// Where an <see cref="IoptPages"/> gets its pages from (Linux's pfn_reader over user memory or
/// a file): pins count pages from page index of the source
/// on, all or nothing (EFAULT for a page that is not there, EPERM for a write to a read-only
/// source, ENOMEM when pinning fails), and unpins what it pinned.
/// </summary>
public interface IPageProvider
{
    Errno Pin(ulong index, int count, bool write, Span<ulong> pfns);

    void Unpin(ReadOnlySpan<ulong> pfns);
}
