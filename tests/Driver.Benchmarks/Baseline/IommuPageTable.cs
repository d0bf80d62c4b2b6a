using Driver.Kernel;
using System.Runtime.CompilerServices;
using Driver.Hw.Interfaces;
using Driver.Kernel.Mm;

namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>
/// An I/O page table in physical memory, in the format <typeparamref name="TFormat"/>:
/// Linux's generic_pt. Because the format is a struct type argument the JIT
/// compiles this class once per format with every format call inlined.
/// Callers serialise operations on overlapping IOVA ranges (Linux's range
/// lock); MapPages on disjoint ranges may run on many threads at once, as
/// tables are installed with compare-and-swap.
/// </summary>
public sealed partial class IommuPageTable<TFormat>
    where TFormat : struct, IPtFormat
{
    // The top word holds the top table's address and, in its low bits, its level,
    // so that lock-free readers load both at once.
    private const ulong LevelMask = Page.Mask;

    private readonly IPhysicalMemory _memory;
    private readonly IFrameAllocator _allocator;
    private readonly IIommuPtDriver _driver;
    private readonly Lock _topLock = new();
    private readonly ulong _pageSizes;
    private readonly int _vaBits;
    private readonly int _oaBits;
    private readonly bool _dynamicTop;
    private readonly bool _signExtend;
    private readonly IotlbFlushMode _flushMode;
    private ulong _top;
    private bool _dead;

    private IommuPageTable(PtConfig config, IPhysicalMemory memory, IFrameAllocator allocator, IIommuPtDriver driver,
        ulong topPa, int vaBits, int oaBits, ulong pageSizes)
    {
        _memory = memory;
        _allocator = allocator;
        _driver = driver;
        _vaBits = vaBits;
        _oaBits = oaBits;
        _pageSizes = pageSizes;
        _dynamicTop = config.DynamicTop;
        _signExtend = config.SignExtend;
        _flushMode = config.FlushMode;
        _top = topPa | (uint)config.TopLevel;
    }

    /// <summary>Physical address of the top table (what the DTE or context entry points at).</summary>
    public ulong TopPa => Volatile.Read(ref _top) & ~LevelMask;

    /// <summary>Level of the top table; the number of levels is one more.</summary>
    public int TopLevel => (int)(Volatile.Read(ref _top) & LevelMask);

    /// <summary>Page sizes this table maps with (bit n = 2^n bytes).</summary>
    public ulong PageSizeBitmap => _pageSizes;

    /// <summary>IOVA bits the table may grow to translate.</summary>
    public int VaBits => _vaBits;

    /// <summary>
    /// Sets up an empty table: EINVAL or EOPNOTSUPP for a configuration the
    /// format cannot do, ENOMEM when the top table cannot be allocated.
    /// </summary>
    public static Errno Init(PtConfig config, IPhysicalMemory memory, IFrameAllocator allocator, IIommuPtDriver driver,
        out IommuPageTable<TFormat>? table)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(allocator);
        ArgumentNullException.ThrowIfNull(driver);
        table = null;
        if ((config.DynamicTop && !TFormat.SupportsDynamicTop) || (config.SignExtend && !TFormat.SupportsSignExtend))
            return Errno.EOPNOTSUPP;
        if (config.TopLevel < 0 || config.TopLevel > TFormat.MaxTopLevel)
            return Errno.EINVAL;
        int vaBits = config.VaBits == 0 ? TFormat.MaxVaBits : config.VaBits;
        if (config.SignExtend && config.VaBits == 0)
            vaBits = PtGeometry.TableLg2(config.TopLevel);
        int oaBits = config.OaBits == 0 ? TFormat.MaxOaBits : config.OaBits;
        if (vaBits <= PtGeometry.GranuleLg2 || vaBits > TFormat.MaxVaBits
            || oaBits <= PtGeometry.GranuleLg2 || oaBits > TFormat.MaxOaBits)
            return Errno.EINVAL;
        // A sign-extended space is exactly what the top table covers: its top bit picks the half.
        if (config.SignExtend && vaBits != PtGeometry.TableLg2(config.TopLevel))
            return Errno.EINVAL;

        int highestLevel = config.DynamicTop ? TFormat.MaxTopLevel : config.TopLevel;
        ulong supported = 0;
        for (int level = 0; level <= highestLevel && PtGeometry.ItemLg2(level) < vaBits; level++)
            supported |= TFormat.PossibleSizes(level);
        supported &= PageSizes.UpTo(Math.Min(vaBits, oaBits) - 1);
        ulong pageSizes = config.PageSizes == 0 ? supported : config.PageSizes;
        if (pageSizes == 0 || (pageSizes & ~supported) != 0)
            return Errno.EINVAL;

        if (!allocator.TryAlloc(out ulong topPa))
            return Errno.ENOMEM;
        table = new IommuPageTable<TFormat>(config, memory, allocator, driver, topPa, vaBits, oaBits, pageSizes);
        return Errno.Ok;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadTop()
    {
        if (_dead)
            ThrowDead();
        return Volatile.Read(ref _top);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LevelOf(ulong top) => (int)(top & LevelMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TableOf(ulong top) => top & ~LevelMask;

    /// <summary>Whether va..last lies in the IOVA space of a top table at <paramref name="topLevel"/>.</summary>
    private bool Covers(int topLevel, ulong va, ulong last)
    {
        if (_signExtend)
        {
            ulong half = 1UL << (_vaBits - 1);
            return last < half || va >= 0UL - half;
        }
        int lg2 = Math.Min(_vaBits, PtGeometry.TableLg2(topLevel));
        return lg2 >= 64 || (last >> lg2) == 0;
    }

    /// <summary>
    /// Checks va..last for an operation that only looks at what is mapped:
    /// ERANGE outside the IOVA space; with a top that can still grow, the part
    /// beyond the current top holds nothing, so <paramref name="last"/> is
    /// clamped to it (<paramref name="clamped"/>) or, when nothing is left, ENOENT.
    /// </summary>
    private Errno CheckRange(int topLevel, ulong va, ref ulong last, out bool clamped)
    {
        clamped = false;
        if (Covers(topLevel, va, last))
            return Errno.Ok;
        if (!_dynamicTop || (_vaBits < 64 && (last >> _vaBits) != 0))
            return Errno.ERANGE;
        ulong end = (1UL << PtGeometry.TableLg2(topLevel)) - 1;
        if (va > end)
            return Errno.ENOENT;
        last = end;
        clamped = true;
        return Errno.Ok;
    }

    /// <summary>IOVA of the first byte the table at <paramref name="level"/> holding <paramref name="va"/> translates.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TableBase(ulong va, int level)
    {
        int lg2 = PtGeometry.TableLg2(level);
        return lg2 >= 64 ? 0 : va & ~((1UL << lg2) - 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ItemPa(ulong tablePa, int index) => tablePa + ((ulong)index * PtGeometry.ItemBytes);

    /// <summary>Checks a length and computes the last IOVA: EINVAL for nothing, EOVERFLOW past 2^64.</summary>
    private static Errno MakeRange(ulong iova, ulong length, out ulong last)
    {
        last = iova + (length - 1);
        if (length == 0)
            return Errno.EINVAL;
        return last < iova ? Errno.EOVERFLOW : Errno.Ok;
    }

    /// <summary>
    /// Adds the tables of the subtree at <paramref name="tablePa"/> (itself
    /// included) to <paramref name="frames"/>. With <paramref name="checkMapped"/>
    /// it stops and returns false at the first leaf.
    /// </summary>
    private bool CollectTables(int level, ulong tablePa, List<ulong> frames, bool checkMapped)
    {
        frames.Add(tablePa);
        if (level == 0 && !checkMapped)
            return true;
        for (int index = 0; index < PtGeometry.ItemsPerTable; index++)
        {
            ulong item = _memory.ReadU64(ItemPa(tablePa, index));
            switch (TFormat.Classify(item, level))
            {
                case PtEntryType.Table:
                    if (!CollectTables(level - 1, TFormat.TablePa(item), frames, checkMapped))
                        return false;
                    break;
                case PtEntryType.Leaf when checkMapped:
                    return false;
            }
        }
        return true;
    }

    private void FreeFrames(List<ulong> frames)
    {
        foreach (ulong frame in frames)
            _allocator.Free(frame);
        frames.Clear();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDead() =>
        throw new ObjectDisposedException(nameof(IommuPageTable<TFormat>), "BUG: the page table was used after Deinit");
}
