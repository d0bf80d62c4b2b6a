using System.Runtime.CompilerServices;
using Driver.Hw.Interfaces;

namespace Driver.Kernel.IommuPt;

/// <summary>
/// The one descent every page-table operation uses (Linux's pt_walk_range and
/// pt_descend). A descent from the last item in range of a table is a loop, not
/// a call: the walk state moves down into the child in place, so a walk to one
/// address (or one leaf table) is iterative and only a range that spans several
/// items of a table recurses.
/// </summary>
internal static class PtWalk<TFormat>
    where TFormat : struct, IPtFormat
{
    /// <summary>
    /// Visits the items of the table at <paramref name="tablePa"/> that
    /// va..last touches, in order, and the child tables the operation asks for;
    /// false when <paramref name="op"/> stopped the walk.
    /// </summary>
    public static bool Range<TOp>(ref TOp op, IPhysicalMemory memory, ulong tablePa, int level, ulong va, ulong last)
        where TOp : struct, IPtLevelOp<TFormat>
    {
        var state = new PtState<TFormat>(memory, tablePa, level, va, last);
        return Walk(ref op, ref state);
    }

    /// <summary>Walks every item of the subtree whose table at <paramref name="level"/> translates from <paramref name="va"/>.</summary>
    public static bool Whole<TOp>(ref TOp op, IPhysicalMemory memory, ulong tablePa, int level, ulong va)
        where TOp : struct, IPtLevelOp<TFormat>
    {
        int lg2 = PtGeometry.TableLg2(level);
        ulong last = lg2 >= 64 ? ulong.MaxValue : va + ((1UL << lg2) - 1);
        return Range(ref op, memory, tablePa, level, va, last);
    }

    /// <summary>
    /// Goes down in place along the state's address through tables that exist,
    /// to <paramref name="level"/>, and loads the item there: the descent of a
    /// one-item operation without the per-item machinery (Linux's single-page
    /// map). False, with the state at the item, when an item above is not a table.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool DescendTo(ref PtState<TFormat> state, int level)
    {
        while (true)
        {
            state.Load();
            if (state.Level == level)
                return true;
            if (state.Type != PtEntryType.Table)
                return false;
            state.EnterChild();
        }
    }

    private static bool Walk<TOp>(ref TOp op, ref PtState<TFormat> state)
        where TOp : struct, IPtLevelOp<TFormat>
    {
        while (true)
        {
            state.Load();
            var step = op.Visit(ref state);
            if (step != PtStep.Next)
            {
                if (step == PtStep.Stop)
                    return false;
                if (step == PtStep.Descend && state.NextIndex > state.EndIndex)
                {
                    // Nothing of this table is left after the child: go down in place.
                    state.EnterChild();
                    continue;
                }
                if (!Range(ref op, state.Memory, state.ChildTablePa, state.Level - 1, state.ChildVa, state.ChildLast))
                    return false;
                if (step == PtStep.DescendThenAscend && !op.Ascend(ref state))
                    return false;
            }
            if (state.NextIndex > state.EndIndex)
                return true;
            state.Index = state.NextIndex;
        }
    }
}
