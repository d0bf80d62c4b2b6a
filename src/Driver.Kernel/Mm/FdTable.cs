namespace Driver.Kernel.Mm;

/// <summary>
/// A process's file descriptor table: fds from 0, the lowest free one first, resolved by the
/// ioctl layer. A file installed under several fds (dup) is released when the last one closes.
/// Thread-safe.
/// </summary>
public sealed class FdTable
{
    private readonly List<IFile?> _fds = [];
    private readonly Dictionary<IFile, int> _refs = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();

    /// <summary>Open fds.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _fds.Count(f => f is not null);
        }
    }

    /// <summary>Installs <paramref name="file"/> under the lowest free fd and returns it.</summary>
    public int Install(IFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        lock (_lock)
        {
            int fd = _fds.IndexOf(null);
            if (fd < 0)
            {
                fd = _fds.Count;
                _fds.Add(file);
            }
            else
                _fds[fd] = file;
            _refs[file] = _refs.GetValueOrDefault(file) + 1;
            return fd;
        }
    }

    /// <summary>The file behind <paramref name="fd"/>; EBADF when it is not open.</summary>
    public Errno Get(int fd, out IFile? file)
    {
        lock (_lock)
        {
            file = fd >= 0 && fd < _fds.Count ? _fds[fd] : null;
            return file is null ? Errno.EBADF : Errno.Ok;
        }
    }

    /// <summary>The file behind <paramref name="fd"/> when it is open and of kind <typeparamref name="T"/>.</summary>
    public bool TryGet<T>(int fd, out T? file) where T : class, IFile
    {
        Get(fd, out IFile? any);
        file = any as T;
        return file is not null;
    }

    /// <summary>dup: the same file under the lowest free fd; EBADF when <paramref name="fd"/> is not open.</summary>
    public Errno Dup(int fd, out int newFd)
    {
        newFd = -1;
        lock (_lock)
        {
            if (Get(fd, out IFile? file) != Errno.Ok)
                return Errno.EBADF;
            newFd = Install(file!);
            return Errno.Ok;
        }
    }

    /// <summary>close: EBADF when <paramref name="fd"/> is not open; the last fd of a file releases it.</summary>
    public Errno Close(int fd)
    {
        IFile file;
        lock (_lock)
        {
            if (fd < 0 || fd >= _fds.Count || _fds[fd] is null)
                return Errno.EBADF;
            file = _fds[fd]!;
            _fds[fd] = null;
            int left = _refs[file] - 1;
            if (left > 0)
            {
                _refs[file] = left;
                return Errno.Ok;
            }
            _refs.Remove(file);
        }
        file.Release();
        return Errno.Ok;
    }
}
