namespace Driver.Kernel.Iommufd;

/// <summary>
/// The pages behind one or more areas (Linux struct iopt_pages): a run of pages of user memory
/// or of a file, shared by every area that maps a slice of it (copies included) and reference
/// counted by them. A page is pinned once, when its first holder needs it, and unpinned when
/// its last holder lets go: the holders are the areas whose domains map it (one per area
/// however many domains) and the in-kernel accesses that pinned it.
/// </summary>
public sealed class IoptPages
{
    private readonly IPageProvider _source;
    private readonly ulong[] _pfns;
    private readonly int[] _holders;

    /// <param name="source">Pins and unpins the pages.</param>
    /// <param name="startByte">Where page 0 starts in the source (the user VA or file offset, page aligned).</param>
    /// <param name="npages">Pages in the run.</param>
    /// <param name="writable">Whether the pages may be pinned for write (what was asked at map).</param>
    /// <param name="pinBatch">The most pages pinned by one call to the source (Linux's temp memory limit).</param>
    public IoptPages(IPageProvider source, ulong startByte, int npages, bool writable, int pinBatch = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(npages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pinBatch, 1);
        _source = source;
        StartByte = startByte;
        Writable = writable;
        PinBatch = pinBatch;
        _pfns = new ulong[npages];
        _holders = new int[npages];
        References = 1;
    }

    public ulong StartByte { get; }

    public int PageCount => _pfns.Length;

    public bool Writable { get; }

    public int PinBatch { get; }

    /// <summary>Areas (and pages lists in flight) that reference this run (its kref).</summary>
    public int References { get; private set; }

    /// <summary>Pages pinned now.</summary>
    public long Pinned { get; private set; }

    /// <summary>Host bytes this object keeps per page (its PFN and its holder count).</summary>
    public const int BytesPerPage = sizeof(ulong) + sizeof(int);

    public void Get() => References++;

    /// <summary>Drops a reference; the last one must find nothing pinned.</summary>
    public void Put()
    {
        if (References == 0)
            throw new InvalidOperationException("BUG: iopt_pages put below zero");
        References--;
        if (References == 0 && Pinned != 0)
            throw new InvalidOperationException($"BUG: iopt_pages released with {Pinned} pages pinned");
    }

    /// <summary>The PFN of a page some holder keeps pinned.</summary>
    public ulong PfnOf(int index)
    {
        if (_holders[index] == 0)
            throw new InvalidOperationException("BUG: the PFN of a page nobody pinned");
        return _pfns[index];
    }

    /// <summary>
    /// Adds one holder to pages first..last, pinning the ones nobody held, in batches of at most
    /// <see cref="PinBatch"/>. On failure nothing changed: what this call pinned is unpinned.
    /// </summary>
    public Errno Hold(int first, int last, bool write)
    {
        if (write && !Writable)
            return Errno.EPERM;
        int index = first;
        while (index <= last)
        {
            if (_holders[index] != 0)
            {
                index++;
                continue;
            }
            int run = 1;
            while (index + run <= last && _holders[index + run] == 0 && run < PinBatch)
                run++;
            var err = _source.Pin(StartByte / Page + (ulong)index, run, Writable, _pfns.AsSpan(index, run));
            if (err != Errno.Ok)
            {
                ReleaseNew(first, index - 1);
                Array.Clear(_pfns, index, run);
                return err;
            }
            // Mark the run held at 0 for now so that the loop skips it; the final pass counts every holder once.
            for (int i = index; i < index + run; i++)
                _holders[i] = -1;
            Pinned += run;
            index += run;
        }
        for (int i = first; i <= last; i++)
            _holders[i] = _holders[i] == -1 ? 1 : _holders[i] + 1;
        return Errno.Ok;
    }

    /// <summary>Drops one holder of pages first..last and unpins those nobody holds any more.</summary>
    public void Release(int first, int last)
    {
        int index = first;
        while (index <= last)
        {
            if (_holders[index] <= 0)
                throw new InvalidOperationException("BUG: releasing a page nobody holds");
            if (--_holders[index] != 0)
            {
                index++;
                continue;
            }
            int run = 1;
            while (index + run <= last && _holders[index + run] == 1)
            {
                _holders[index + run] = 0;
                run++;
            }
            Unpin(index, run);
            index += run;
        }
    }

    // Unwinds a failed Hold: pages it pinned are marked -1 and are unpinned again.
    private void ReleaseNew(int first, int last)
    {
        int index = first;
        while (index <= last)
        {
            if (_holders[index] != -1)
            {
                index++;
                continue;
            }
            int run = 1;
            while (index + run <= last && _holders[index + run] == -1)
                run++;
            for (int i = index; i < index + run; i++)
                _holders[i] = 0;
            Unpin(index, run);
            index += run;
        }
    }

    private void Unpin(int index, int run)
    {
        _source.Unpin(_pfns.AsSpan(index, run));
        Array.Clear(_pfns, index, run);
        Pinned -= run;
    }

    private const ulong Page = 4096;
}
