namespace Driver.Scenarios.Engine;

/// <summary>
/// Where the guest's memory is: its guest-physical base and size, the system frame behind every 4 KiB
/// page (what stage 2 would translate), and what each 2 MiB block looks like to the IOMMU and the RMP.
/// Lookups only; nothing here is ever iterated in hash order.
/// </summary>
internal sealed class GuestLayout
{
    public const ulong Page4K = 0x1000;
    public const ulong Page2M = 0x20_0000;
    public const int PagesPer2M = 512;

    private readonly ulong[] _spa;
    private readonly bool _hugeFolios;
    private readonly Dictionary<ulong, ulong> _indexOfSpa = [];

    public GuestLayout(ulong gpaBase, ulong size, bool hugeFolios)
    {
        GpaBase = gpaBase;
        Size = size;
        Pages = size / Page4K;
        Blocks = (int)((size + Page2M - 1) / Page2M);
        _hugeFolios = hugeFolios;
        _spa = new ulong[hugeFolios ? Blocks : (long)Pages];
        IoSplit = new bool[Blocks];
        RmpSplit = new bool[Blocks];
    }

    public ulong GpaBase { get; }

    public ulong Size { get; }

    public ulong Pages { get; }

    public int Blocks { get; }

    /// <summary>Per 2 MiB block: the trusted device's I/O page table no longer has one 2 MiB leaf there.</summary>
    public bool[] IoSplit { get; }

    /// <summary>Per 2 MiB block: the RMP no longer has one 2 MiB entry there.</summary>
    public bool[] RmpSplit { get; }

    public ulong Gpa(ulong page) => GpaBase + (page * Page4K);

    public ulong PageOf(ulong gpa) => (gpa - GpaBase) / Page4K;

    public static int BlockOfPage(ulong page) => (int)(page / PagesPer2M);

    public ulong BlockGpa(int block) => GpaBase + ((ulong)block * Page2M);

    /// <summary>Whether the RMP has one 2 MiB entry over guest frame <paramref name="spa"/> (false for a frame not the guest's).</summary>
    public bool RmpIsHuge(ulong spa) => TryPageOf(spa, out ulong page) && !RmpSplit[BlockOfPage(page)];

    /// <summary>Records the frame of a 2 MiB folio (or of one 4 KiB page when folios are 4 KiB).</summary>
    public void SetFolio(ulong firstPage, ulong spa)
    {
        if (_hugeFolios)
        {
            _spa[BlockOfPage(firstPage)] = spa;
            _indexOfSpa[spa] = firstPage;
        }
        else
        {
            _spa[firstPage] = spa;
            _indexOfSpa[spa] = firstPage;
        }
    }

    public ulong Spa(ulong page) => _hugeFolios ? _spa[BlockOfPage(page)] + ((page % PagesPer2M) * Page4K) : _spa[page];

    /// <summary>The guest page whose frame is <paramref name="spa"/>.</summary>
    public bool TryPageOf(ulong spa, out ulong page)
    {
        if (_hugeFolios)
        {
            ulong head = spa & ~(Page2M - 1);
            if (_indexOfSpa.TryGetValue(head, out ulong first))
            {
                page = first + ((spa - head) / Page4K);
                return true;
            }
            page = 0;
            return false;
        }
        return _indexOfSpa.TryGetValue(spa & ~(Page4K - 1), out page);
    }
}
