using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Driver.Hw.Interfaces;

namespace Driver.Kernel.IommuPt;

/// <summary>
/// Where a walk stands in one table (Linux's pt_state): the table, its level,
/// the part va..last of the walk's range that falls in it, the item at
/// <see cref="Index"/> as last loaded, and what that item's child covers
/// (computed when asked). Only <see cref="PtWalk{TFormat}"/> creates one, and
/// moves it down into a child table in place when nothing else of the table is left.
/// </summary>
internal ref struct PtState<TFormat>
    where TFormat : struct, IPtFormat
{
    public readonly IPhysicalMemory Memory;

    /// <summary>The item the walk is at.</summary>
    public int Index;

    /// <summary>Where the walk goes after this item; an operation that consumed more items moves it.</summary>
    public int NextIndex;

    /// <summary>The value of the item at <see cref="Index"/> when loaded.</summary>
    public ulong Item;

    public PtEntryType Type;

    private ulong _tableVa;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PtState(IPhysicalMemory memory, ulong tablePa, int level, ulong va, ulong last)
    {
        Memory = memory;
        int tableLg2 = PtGeometry.TableLg2(level);
        Enter(tablePa, level, va, last, tableLg2 >= 64 ? 0 : va & ~((1UL << tableLg2) - 1));
    }

    public ulong TablePa { readonly get; private set; }

    public int Level { readonly get; private set; }

    /// <summary>The part of the walk's range that falls in this table.</summary>
    public ulong Va { readonly get; private set; }

    public ulong Last { readonly get; private set; }

    public int FirstIndex { readonly get; private set; }

    public int EndIndex { readonly get; private set; }

    public readonly int ItemLg2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => PtGeometry.ItemLg2(Level);
    }

    public readonly ulong ItemPa
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => PaOf(Index);
    }

    /// <summary>First IOVA the item at <see cref="Index"/> translates.</summary>
    public readonly ulong ItemVa
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => VaOf(Index);
    }

    /// <summary>Last IOVA the item at <see cref="Index"/> translates.</summary>
    public readonly ulong ItemLast
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ItemVa + ((1UL << ItemLg2) - 1);
    }

    /// <summary>The part of the walk's range under the current item: the child walk's range.</summary>
    public readonly ulong ChildVa => Math.Max(Va, ItemVa);

    public readonly ulong ChildLast => Math.Min(Last, ItemLast);

    /// <summary>The walk's range covers the whole current item.</summary>
    public readonly bool CoversItem => ItemVa >= Va && ItemLast <= Last;

    /// <summary>The table a table item points to.</summary>
    public readonly ulong ChildTablePa => TFormat.TablePa(Item);

    /// <summary>Log2 of the size of the (possibly contiguous) leaf the current item belongs to.</summary>
    public readonly int EntryLg2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TFormat.LeafSizeLg2(Item, Level);
    }

    /// <summary>How many items the current leaf entry spans.</summary>
    public readonly int EntryItems
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => 1 << (EntryLg2 - ItemLg2);
    }

    /// <summary>Index of the first item of the current leaf entry.</summary>
    public readonly int EntryIndex => Index & ~(EntryItems - 1);

    /// <summary>Moves the walk into the child table of the current (table) item, over the part of the range under it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EnterChild()
    {
        ulong itemVa = ItemVa;
        Enter(ChildTablePa, Level - 1, Math.Max(Va, itemVa), Math.Min(Last, itemVa + ((1UL << ItemLg2) - 1)), itemVa);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Enter(ulong tablePa, int level, ulong va, ulong last, ulong tableVa)
    {
        TablePa = tablePa;
        Level = level;
        Va = va;
        Last = last;
        _tableVa = tableVa;
        FirstIndex = PtGeometry.Index(va, level);
        EndIndex = PtGeometry.Index(last, level);
        Index = FirstIndex;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ulong PaOf(int index) => TablePa + ((ulong)index * PtGeometry.ItemBytes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ulong VaOf(int index) => _tableVa + ((ulong)index << ItemLg2);

    /// <summary>Reads and classifies the item at <see cref="Index"/>; the walk moves on by one unless told otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load()
    {
        Item = Memory.ReadU64(ItemPa);
        Type = TFormat.Classify(Item, Level);
        NextIndex = Index + 1;
    }

    /// <summary>Takes <paramref name="item"/> as the current item (what a lost compare-and-swap saw).</summary>
    public void Reload(ulong item)
    {
        Item = item;
        Type = TFormat.Classify(item, Level);
    }

    /// <summary>Moves on past the whole leaf entry the current item belongs to.</summary>
    public void SkipEntry() => NextIndex = EntryIndex + EntryItems;

    /// <summary>Stores <paramref name="value"/> into <paramref name="count"/> items from <paramref name="index"/>; on its own for the reason below.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public readonly void Store(int index, int count, ulong value)
    {
        var memory = Memory;
        ulong pa = PaOf(index);
        for (int i = 0; i < count; i++)
        {
            memory.WriteU64(pa, value);
            pa += PtGeometry.ItemBytes;
        }
    }

    /// <summary>
    /// Stores leaf entries of <paramref name="entryItems"/> items each from <paramref name="index"/> on,
    /// <paramref name="leaf"/> first and each next entry <paramref name="leafStep"/> more, while the items
    /// of the entry (as read into <paramref name="items"/>, which holds whole entries) are all empty;
    /// returns how many items it stored. Compiled on its own so that its own profile, which sees only
    /// this loop, lets tiering inline the stores.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public readonly int StoreWhileEmpty(int index, ReadOnlySpan<ulong> items, int entryItems, ulong leaf, ulong leafStep)
    {
        var memory = Memory;
        int level = Level;
        ulong pa = PaOf(index);
        int stored = 0;
        while (stored < items.Length)
        {
            foreach (ulong item in items.Slice(stored, entryItems))
            {
                if (TFormat.Classify(item, level) != PtEntryType.Empty)
                    return stored;
            }
            for (int i = 0; i < entryItems; i++)
            {
                memory.WriteU64(pa, leaf);
                pa += PtGeometry.ItemBytes;
            }
            leaf += leafStep;
            stored += entryItems;
        }
        return stored;
    }

    /// <summary>
    /// <see cref="StoreWhileEmpty"/> for leaves of one item each (natural-size leaves, Linux's common
    /// case): one test and one store per item, without the per-entry loops whose unknown trip count
    /// cost more than the store itself. On its own for the reason above.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public readonly int StoreOneItemLeavesWhileEmpty(int index, ReadOnlySpan<ulong> items, ulong leaf, ulong leafStep)
    {
        var memory = Memory;
        int level = Level;
        ulong pa = PaOf(index);
        int stored = 0;
        for (; stored < items.Length; stored++)
        {
            if (TFormat.Classify(items[stored], level) != PtEntryType.Empty)
                break;
            memory.WriteU64(pa, leaf);
            pa += PtGeometry.ItemBytes;
            leaf += leafStep;
        }
        return stored;
    }

    /// <summary>
    /// Clears the items from <paramref name="index"/> on while they (as read into <paramref name="items"/>)
    /// are leaves of one item each; returns how many it cleared. On its own for the reason above.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public readonly int ClearWhileOneItemLeaves(int index, ReadOnlySpan<ulong> items)
    {
        var memory = Memory;
        int level = Level;
        int itemLg2 = ItemLg2;
        ulong pa = PaOf(index);
        int cleared = 0;
        for (; cleared < items.Length; cleared++)
        {
            ulong item = items[cleared];
            if (TFormat.Classify(item, level) != PtEntryType.Leaf || TFormat.LeafSizeLg2(item, level) != itemLg2)
                break;
            memory.WriteU64(pa, 0);
            pa += PtGeometry.ItemBytes;
        }
        return cleared;
    }

    /// <summary>
    /// Reads <paramref name="items"/>.Length items from <paramref name="index"/> in one access: for
    /// a look at items nobody else writes (the caller's range; hardware only sets bits in present leaves).
    /// </summary>
    public readonly void ReadItems(int index, Span<ulong> items) => Memory.Read(PaOf(index), MemoryMarshal.AsBytes(items));

    /// <summary>A contiguous entry is dirty when any of its items is.</summary>
    public readonly bool AnyDirty(int index, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if ((Memory.ReadU64(PaOf(index + i)) & TFormat.DirtyBit) != 0)
                return true;
        }
        return false;
    }
}
