namespace Driver.Kernel.Mm;

/// <summary>
/// An open memfd (a struct file): the file and the mode it was opened with. Closing the last
/// handle and mapping releases the file's pages.
/// </summary>
public sealed class MemFdHandle : IFile
{
    private int _closed;

    internal MemFdHandle(MemFd file, bool writable)
    {
        File = file;
        Writable = writable;
    }

    public MemFd File { get; }

    /// <summary>True when opened read-write.</summary>
    public bool Writable { get; }

    /// <summary>Pins through this open file: a write pin of a read-only file is EPERM (as iommufd refuses it).</summary>
    public Errno PinPages(ulong offset, int count, bool write, Span<ulong> pfns) =>
        write && !Writable ? Errno.EPERM : File.PinPages(offset, count, write, pfns);

    /// <summary>Closes the handle; a second close is a bug.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            throw new InvalidOperationException("BUG: memfd handle released twice");
        File.RemoveUser();
    }
}
