using System.Runtime.CompilerServices;
using Driver.Hw.Interfaces;

namespace Driver.Kernel.IommuPt;

/// <summary>The one descent every page-table operation uses (Linux's pt_walk_range and pt_descend).</summary>
internal static class PtWalk<TFormat>
    where TFormat : struct, IPtFormat
{
    /// <summary>
    /// Visits the items of the table at <paramref name="tablePa"/> that
    /// va..last touches, in order; false when <paramref name="op"/> stopped the walk.
    /// </summary>
    public static bool Range<TOp>(ref TOp op, IPhysicalMemory memory, ulong tablePa, int level, ulong va, ulong last)
        where TOp : struct, IPtLevelOp<TFormat>
    {
        var state = new PtState<TFormat>(memory, tablePa, level, va, last);
        while (true)
        {
            state.Load();
            if (!op.Visit(ref state))
                return false;
            if (state.NextIndex > state.EndIndex)
                return true;
            state.Index = state.NextIndex;
        }
    }

    /// <summary>Walks the child table of the current (table) item over the part of the range under it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Descend<TOp>(ref TOp op, ref PtState<TFormat> state)
        where TOp : struct, IPtLevelOp<TFormat> =>
        Range(ref op, state.Memory, state.ChildTablePa, state.Level - 1, state.ChildVa, state.ChildLast);

    /// <summary>Walks every item of the subtree whose table at <paramref name="level"/> translates from <paramref name="va"/>.</summary>
    public static bool Whole<TOp>(ref TOp op, IPhysicalMemory memory, ulong tablePa, int level, ulong va)
        where TOp : struct, IPtLevelOp<TFormat>
    {
        int lg2 = PtGeometry.TableLg2(level);
        ulong last = lg2 >= 64 ? ulong.MaxValue : va + ((1UL << lg2) - 1);
        return Range(ref op, memory, tablePa, level, va, last);
    }
}
