namespace Driver.Kernel.Mm;

/// <summary>
/// A file whose pages a user address space can map (what a file's vm_operations are to Linux):
/// the memfd, and guest_memfd for its shared pages.
/// </summary>
public interface IUserMappable
{
    /// <summary>
    /// The page at <paramref name="index"/>, allocated if it is a hole, with one reference taken
    /// for the caller (the mapping's). EFAULT beyond the end of the file, ENOMEM, or the file's
    /// own refusal (guest_memfd: a private page, Linux's SIGBUS). If the file takes the page
    /// away before the caller maps it, the caller's reference is what the file sees as a user.
    /// </summary>
    Errno FaultPage(ulong index, bool write, out ulong pfn);

    /// <summary>A mapping of the file was made in <paramref name="mm"/> (a mapping holds the file open).</summary>
    void MappingOpened(UserAddressSpace mm);

    /// <summary>A mapping of the file in <paramref name="mm"/> went away.</summary>
    void MappingClosed(UserAddressSpace mm);
}
