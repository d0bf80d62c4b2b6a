using Driver.Platform.Time;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Actors;

/// <summary>
/// Where the trusted device's next transaction goes, by <see cref="DmaPattern"/>, never into a page the
/// guest is converting (the guest's driver does not DMA there; the rest of the 2 MiB page is fair game).
/// Transactions are aligned to their size so that none crosses a 4 KiB page.
/// </summary>
internal sealed class DmaTargets
{
    /// <summary>Share of Hotspot transactions aimed at the blocks being converted.</summary>
    public const double HotShare = 0.9;

    private readonly GuestLayout _layout;
    private readonly ConversionState _state;
    private readonly DmaPattern _pattern;
    private readonly ulong _slots;
    private readonly uint _bytes;
    private SplitMix64 _random;
    private ulong _cursor;

    public DmaTargets(GuestLayout layout, ConversionState state, DmaPattern pattern, uint bytes, ulong seed)
    {
        _layout = layout;
        _state = state;
        _pattern = pattern;
        _bytes = bytes;
        _slots = GuestLayout.Page4K / AlignedSize(bytes);
        _random = new SplitMix64(seed);
    }

    /// <summary>The guest address of the next transaction.</summary>
    public ulong Next()
    {
        ulong page = _pattern switch
        {
            DmaPattern.Sequential => _cursor++ % _layout.Pages,
            DmaPattern.Random => Uniform(),
            _ => Hot(),
        };
        page = Avoid(page);
        ulong slot = _slots > 1 ? _random.Next() % _slots : 0;
        return _layout.Gpa(page) + (slot * AlignedSize(_bytes));
    }

    private ulong Uniform() => _random.Next() % _layout.Pages;

    private ulong Hot()
    {
        if (!_random.Chance(HotShare))
            return Uniform();
        var hot = _state.HotBlocks;
        int block = hot.Count != 0 ? hot[_random.NextInt(hot.Count)] : Math.Max(0, _state.LastBlock);
        ulong first = (ulong)block * GuestLayout.PagesPer2M;
        ulong pages = Math.Min(GuestLayout.PagesPer2M, _layout.Pages - first);
        return first + (_random.Next() % pages);
    }

    // The next page the guest is not converting, staying inside the 2 MiB block when it can.
    private ulong Avoid(ulong page)
    {
        if (!_state.IsBusy(page))
            return page;
        ulong first = page - (page % GuestLayout.PagesPer2M);
        ulong pages = Math.Min(GuestLayout.PagesPer2M, _layout.Pages - first);
        for (ulong i = 1; i < pages; i++)
        {
            ulong candidate = first + ((page - first + i) % pages);
            if (!_state.IsBusy(candidate))
                return candidate;
        }
        for (ulong i = 1; i < _layout.Pages; i++)
        {
            ulong candidate = (page + i) % _layout.Pages;
            if (!_state.IsBusy(candidate))
                return candidate;
        }
        return page;
    }

    // The power of two at or above the transaction size: aligned slots never cross a page.
    private static ulong AlignedSize(uint bytes) => Math.Max(1UL, System.Numerics.BitOperations.RoundUpToPowerOf2(bytes));
}
