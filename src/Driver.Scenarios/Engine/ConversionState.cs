namespace Driver.Scenarios.Engine;

/// <summary>
/// Which guest pages are in a conversion right now (from the guest's request until it validated the page
/// again: the guest does no trusted DMA there) and which are shared (where an untrusted device may go).
/// Lists, not hash sets, so every choice among them is in a deterministic order.
/// </summary>
internal sealed class ConversionState
{
    private readonly ulong[] _busy;
    private readonly int[] _busyInBlock;
    private readonly List<int> _hotBlocks = [];
    private readonly List<ulong> _shared = [];

    public ConversionState(GuestLayout layout)
    {
        _busy = new ulong[(layout.Pages + 63) / 64];
        _busyInBlock = new int[layout.Blocks];
    }

    /// <summary>The block of the latest conversion (-1 before the first).</summary>
    public int LastBlock { get; private set; } = -1;

    /// <summary>Blocks with a page in conversion, in the order their first one started.</summary>
    public IReadOnlyList<int> HotBlocks => _hotBlocks;

    public IReadOnlyList<ulong> Shared => _shared;

    public bool IsBusy(ulong page) => (_busy[page / 64] & (1UL << (int)(page % 64))) != 0;

    public void Begin(ulong page)
    {
        _busy[page / 64] |= 1UL << (int)(page % 64);
        int block = GuestLayout.BlockOfPage(page);
        if (_busyInBlock[block]++ == 0)
            _hotBlocks.Add(block);
        LastBlock = block;
    }

    public void End(ulong page)
    {
        _busy[page / 64] &= ~(1UL << (int)(page % 64));
        int block = GuestLayout.BlockOfPage(page);
        if (--_busyInBlock[block] == 0)
            _hotBlocks.Remove(block);
    }

    public void AddShared(ulong page) => _shared.Add(page);

    public void RemoveShared(ulong page) => _shared.Remove(page);
}
