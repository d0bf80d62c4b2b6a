namespace Driver.Kernel.Mm;

/// <summary>
/// The address spaces that map one file (a file's i_mmap), so the file can take its pages out
/// of every user mapping (unmap_mapping_range) on truncation or conversion. Thread-safe.
/// </summary>
public sealed class FileMappers
{
    private readonly Dictionary<UserAddressSpace, int> _mms = [];
    private readonly Lock _lock = new();

    /// <summary>Mappings of the file in all address spaces.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _mms.Values.Sum();
        }
    }

    public void Add(UserAddressSpace mm)
    {
        lock (_lock)
            _mms[mm] = _mms.GetValueOrDefault(mm) + 1;
    }

    public void Remove(UserAddressSpace mm)
    {
        lock (_lock)
        {
            int left = _mms[mm] - 1;
            if (left == 0)
                _mms.Remove(mm);
            else
                _mms[mm] = left;
        }
    }

    /// <summary>Unmaps file pages [<paramref name="first"/>, <paramref name="end"/>) of <paramref name="file"/> everywhere; returns the pages unmapped.</summary>
    public long Zap(IUserMappable file, ulong first, ulong end)
    {
        UserAddressSpace[] mms;
        lock (_lock)
            mms = [.. _mms.Keys];
        long zapped = 0;
        foreach (UserAddressSpace mm in mms)
            zapped += mm.ZapFilePages(file, first, end);
        return zapped;
    }
}
