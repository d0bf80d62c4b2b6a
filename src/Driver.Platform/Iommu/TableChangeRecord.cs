using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Driver.Platform.Iommu;

/// <summary>
/// When the kernel last wrote each watched word of its I/O page tables, and the latest post of a
/// COMPLETION_WAIT that has completed, on the translation unit's epoch. A change is settled
/// once a wait posted after it has completed: from then on the hardware contract forbids
/// serving DMA from a translation cached before the change (the driver had to invalidate it
/// before that wait). Kept only while the monitors run.
/// <para>
/// Only words a translation walk has read are watched: a cached translation is checked against the
/// words of its own walk, and a write before that walk read a word can never be newer than what
/// the walk cached. So the record grows with the words DMA has walked, not with the tables the
/// kernel writes (a 1 TiB guest mapped at 4 KiB writes 2^28 leaf words).
/// </para>
/// </summary>
internal sealed class TableChangeRecord
{
    // Epoch of the latest write since the word was first walked; 0 for none yet.
    private readonly Dictionary<ulong, long> _lastWrite = [];

    /// <summary>The post epoch of the latest completed COMPLETION_WAIT (0: none yet).</summary>
    public long Settled { get; private set; }

    /// <summary>Words watched: read by a walk at least once.</summary>
    public int WatchedWords => _lastWrite.Count;

    /// <summary>A walk read the word at <paramref name="pa"/>: from now on its writes are recorded.</summary>
    public void Watch(ulong pa) => _lastWrite.TryAdd(pa & ~7UL, 0);

    /// <summary>The kernel wrote the word at <paramref name="pa"/> at <paramref name="epoch"/>; kept when the word is watched.</summary>
    public void Written(ulong pa, long epoch)
    {
        ref long last = ref CollectionsMarshal.GetValueRefOrNullRef(_lastWrite, pa & ~7UL);
        if (!Unsafe.IsNullRef(ref last))
            last = epoch;
    }

    public void CompletionWaitDone(long postEpoch) => Settled = Math.Max(Settled, postEpoch);

    /// <summary>Whether the word at <paramref name="pa"/> changed after <paramref name="since"/> and that change is settled.</summary>
    public bool SettledChangeSince(ulong pa, long since) =>
        _lastWrite.TryGetValue(pa & ~7UL, out long epoch) && epoch > since && epoch <= Settled;
}
