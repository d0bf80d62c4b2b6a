using System.Runtime.CompilerServices;

namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>
/// Level arithmetic shared by the formats here: 4 KiB tables of 512 eight-byte
/// items, level 0 holding 4 KiB items. A format with another granule would turn
/// these into format members.
/// </summary>
public static class PtGeometry
{
    public const int GranuleLg2 = 12;
    public const int ItemsLg2 = 9;
    public const int ItemsPerTable = 1 << ItemsLg2;
    public const int ItemBytes = sizeof(ulong);

    /// <summary>Log2 of the bytes one item at <paramref name="level"/> translates.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ItemLg2(int level) => GranuleLg2 + (ItemsLg2 * level);

    /// <summary>Log2 of the bytes a whole table at <paramref name="level"/> translates (may exceed 63).</summary>
    public static int TableLg2(int level) => ItemLg2(level) + ItemsLg2;

    /// <summary>The level whose items are the largest not bigger than a page of 2^<paramref name="sizeLg2"/> bytes.</summary>
    public static int LevelOfSize(int sizeLg2) => (sizeLg2 - GranuleLg2) / ItemsLg2;

    /// <summary>The index of the item that translates <paramref name="va"/> in its table at <paramref name="level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Index(ulong va, int level) => (int)((va >> ItemLg2(level)) & (ItemsPerTable - 1));
}
