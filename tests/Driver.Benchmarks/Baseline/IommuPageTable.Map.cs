using Driver.Kernel;
using Driver.Kernel.Mm;

namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    private struct MapArgs
    {
        public ulong Oa;
        public ulong Attrs;
        public int LeafLg2;
        public int LeafLevel;
        public IotlbGather? Gather;
    }

    /// <summary>
    /// Maps pgsize * pgcount bytes at <paramref name="iova"/> to <paramref name="paddr"/>,
    /// with ONE page size for the whole call: the largest the domain offers
    /// that fits the length and to which both addresses are aligned. Missing
    /// tables are installed with compare-and-swap. Returns EADDRINUSE on an
    /// existing translation, with <paramref name="mapped"/> saying how far it got.
    /// </summary>
    public Errno MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped)
    {
        mapped = 0;
        ulong top = ReadTop();
        if ((prot & (IommuProt.Read | IommuProt.Write)) == 0 || pgsize == 0 || pgcount == 0)
            return Errno.EINVAL;
        if (Math.BigMul(pgsize, pgcount, out ulong length) != 0)
            return Errno.EOVERFLOW;
        var err = MakeRange(iova, length, out ulong last);
        if (err != Errno.Ok)
            return err;
        ulong lastOa = paddr + (length - 1);
        if (lastOa < paddr || (lastOa >> _oaBits) != 0)
            return Errno.ERANGE;
        // One size must tile the whole length, so it also divides the length.
        int leafLg2 = PageSizes.BestLg2(_pageSizes, iova, last, paddr | length);
        if (leafLg2 == 0)
            return Errno.ENXIO;
        int leafLevel = PtGeometry.LevelOfSize(leafLg2);
        if (!Covers(LevelOf(top), iova, last) || leafLevel > LevelOf(top))
        {
            err = GrowTop(iova, last, leafLevel, out top);
            if (err != Errno.Ok)
                return err;
        }

        var args = new MapArgs
        {
            Oa = paddr,
            Attrs = TFormat.AttrsFromProt(prot),
            LeafLg2 = leafLg2,
            LeafLevel = leafLevel,
        };
        int topLevel = LevelOf(top);
        err = Errno.EAGAIN;
        if (length == Page.Size && leafLg2 == Page.Shift)
            err = MapSinglePage(topLevel, TableOf(top), iova, ref args);
        if (err == Errno.EAGAIN)
        {
            err = leafLevel == topLevel
                ? MapLeaves(topLevel, TableOf(top), iova, last, ref args)
                : MapTables(topLevel, TableOf(top), iova, last, ref args);
        }

        // Empty tables replaced by large leaves may be cached as walks: flush before freeing.
        if (args.Gather is { IsEmpty: false })
            IotlbSync(args.Gather);
        mapped = args.Oa - paddr;
        return err;
    }

    // The common case of one 4 KiB page under tables that exist: no range loop. EAGAIN: use the full walk.
    private Errno MapSinglePage(int level, ulong tablePa, ulong iova, ref MapArgs args)
    {
        while (true)
        {
            ulong itemPa = ItemPa(tablePa, PtGeometry.Index(iova, level));
            ulong item = _memory.ReadU64(itemPa);
            if (level == 0)
            {
                if (TFormat.Classify(item, 0) != PtEntryType.Empty)
                    return Errno.EADDRINUSE;
                _memory.WriteU64(itemPa, TFormat.MakeLeaf(args.Oa, Page.Shift, 0, args.Attrs));
                args.Oa += Page.Size;
                return Errno.Ok;
            }
            if (TFormat.Classify(item, level) != PtEntryType.Table)
                return Errno.EAGAIN;
            tablePa = TFormat.TablePa(item);
            level--;
        }
    }

    private Errno MapTables(int level, ulong tablePa, ulong va, ulong last, ref MapArgs args)
    {
        int itemLg2 = PtGeometry.ItemLg2(level);
        int index = PtGeometry.Index(va, level);
        int end = PtGeometry.Index(last, level);
        ulong tableBase = TableBase(va, level);
        while (true)
        {
            ulong itemPa = ItemPa(tablePa, index);
            ulong item = _memory.ReadU64(itemPa);
            var type = TFormat.Classify(item, level);
            if (type == PtEntryType.Leaf)
                return Errno.EADDRINUSE;
            if (type == PtEntryType.Empty)
            {
                if (!_allocator.TryAlloc(out ulong newTable))
                    return Errno.ENOMEM;
                ulong desired = TFormat.MakeTable(newTable, level);
                if (_memory.CompareExchangeU64(itemPa, desired, item) != item)
                {
                    // Another thread installed a table here first: ours was never visible.
                    _allocator.Free(newTable);
                    continue;
                }
                item = desired;
            }

            ulong itemVa = tableBase + ((ulong)index << itemLg2);
            ulong childVa = Math.Max(va, itemVa);
            ulong childLast = Math.Min(last, itemVa + ((1UL << itemLg2) - 1));
            var err = level - 1 == args.LeafLevel
                ? MapLeaves(level - 1, TFormat.TablePa(item), childVa, childLast, ref args)
                : MapTables(level - 1, TFormat.TablePa(item), childVa, childLast, ref args);
            if (err != Errno.Ok || index == end)
                return err;
            index++;
        }
    }

    // Writes runs of leaves inside one table: the point of the library.
    private Errno MapLeaves(int level, ulong tablePa, ulong va, ulong last, ref MapArgs args)
    {
        int leafLg2 = args.LeafLg2;
        int step = 1 << (leafLg2 - PtGeometry.ItemLg2(level));
        ulong size = 1UL << leafLg2;
        ulong itemPa = ItemPa(tablePa, PtGeometry.Index(va, level));
        ulong endPa = ItemPa(tablePa, PtGeometry.Index(last, level));
        ulong firstOa = args.Oa;
        ulong oa = firstOa;
        ulong leaf = TFormat.MakeLeaf(oa, leafLg2, level, args.Attrs);
        // Leaves are linear in the output address: the next one is one addition away.
        ulong leafStep = TFormat.MakeLeaf(size, leafLg2, level, 0) - TFormat.MakeLeaf(0, leafLg2, level, 0);
        var err = Errno.Ok;
        if (step == 1)
        {
            for (; itemPa <= endPa; itemPa += PtGeometry.ItemBytes)
            {
                ulong old = _memory.ReadU64(itemPa);
                if (TFormat.Classify(old, level) != PtEntryType.Empty)
                {
                    err = ClearForLeaf(level, itemPa, 1, va + (oa - firstOa), ref args);
                    if (err != Errno.Ok)
                        break;
                }
                _memory.WriteU64(itemPa, leaf);
                leaf += leafStep;
                oa += size;
            }
        }
        else
        {
            ulong run = (ulong)step * PtGeometry.ItemBytes;
            for (; itemPa <= endPa; itemPa += run)
            {
                err = ClearForLeaf(level, itemPa, step, va + (oa - firstOa), ref args);
                if (err != Errno.Ok)
                    break;
                for (ulong pa = itemPa; pa < itemPa + run; pa += PtGeometry.ItemBytes)
                    _memory.WriteU64(pa, leaf);
                leaf += leafStep;
                oa += size;
            }
        }
        args.Oa = oa;
        return err;
    }

    /// <summary>
    /// Makes <paramref name="count"/> items ready for a new leaf: empty items
    /// stay, tables holding no translation are unhooked and freed through the
    /// gather (a walk cache may still point at them), anything mapped is EADDRINUSE.
    /// </summary>
    private Errno ClearForLeaf(int level, ulong firstItemPa, int count, ulong firstItemVa, ref MapArgs args)
    {
        ulong itemSize = 1UL << PtGeometry.ItemLg2(level);
        for (int i = 0; i < count; i++)
        {
            ulong itemPa = firstItemPa + ((ulong)i * PtGeometry.ItemBytes);
            ulong item = _memory.ReadU64(itemPa);
            var type = TFormat.Classify(item, level);
            if (type == PtEntryType.Empty)
                continue;
            if (type == PtEntryType.Leaf)
                return Errno.EADDRINUSE;
            var frames = new List<ulong>();
            if (!CollectTables(level - 1, TFormat.TablePa(item), frames, checkMapped: true))
                return Errno.EADDRINUSE;
            _memory.WriteU64(itemPa, 0);
            args.Gather ??= new IotlbGather();
            GatherRange(args.Gather, firstItemVa + ((ulong)i * itemSize), itemSize, frames);
        }
        return Errno.Ok;
    }
}
