using Driver.Hw.Interfaces;
using Driver.Kernel;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Psp;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// What every strategy shares: the guest's blocks start as one 2 MiB RMP entry (assigned to the guest
/// and validated by it) and one 2 MiB I/O page; the RMP side of a split is PSMASH, of a share a 4 KiB
/// RMPUPDATE to hypervisor-owned, of a return to private a 4 KiB RMPUPDATE back to the guest.
/// </summary>
internal abstract class ConversionStrategy : IConversionStrategy
{
    protected const IommuProt ReadWrite = IommuProt.Read | IommuProt.Write;

    private Testbed? _bed;
    private StrategyCounters? _counters;

    public abstract string Name { get; }

    public virtual bool HugeIoPages => true;

    public virtual bool BindsGuestMemfd => false;

    protected Testbed Bed => _bed ?? throw new InvalidOperationException("BUG: strategy used before Attach");

    protected StrategyCounters Counters => _counters ?? throw new InvalidOperationException("BUG: strategy used before Attach");

    protected GuestLayout Layout => Bed.Layout;

    public virtual void Attach(Testbed bed, StrategyCounters counters)
    {
        _bed = bed;
        _counters = counters;
    }

    public virtual void Populate(int block, Func<ulong, ulong, bool, bool> validate)
    {
        ulong firstPage = (ulong)block * GuestLayout.PagesPer2M;
        ulong gpa = Layout.BlockGpa(block);
        if (Bed.Options.FolioSize == GuestLayout.Page2M)
        {
            ulong spa = Layout.Spa(firstPage);
            Testbed.Check(Bed.Sev.Rmp.RmpMakePrivate(spa, gpa, RmpPageLevel.Level2M, Testbed.GuestAsid, false, out _), "RMPUPDATE 2M private");
            if (!validate(gpa, spa, true))
                throw new InvalidOperationException($"scenario bring-up: the guest could not validate 0x{gpa:x}");
            if (!BindsGuestMemfd)
                Testbed.Check(Bed.Core.Map(Bed.TrustedDomain!, gpa, spa, GuestLayout.Page2M, ReadWrite), "map 2M");
            Layout.IoSplit[block] = !HugeIoPages;
            return;
        }
        // 4 KiB folios: every page is its own RMP entry and I/O page, whatever the strategy.
        ulong pages = Math.Min(GuestLayout.PagesPer2M, Layout.Pages - firstPage);
        for (ulong i = 0; i < pages; i++)
        {
            ulong page = firstPage + i;
            ulong spa = Layout.Spa(page);
            Testbed.Check(Bed.Sev.Rmp.RmpMakePrivate(spa, Layout.Gpa(page), RmpPageLevel.Level4K, Testbed.GuestAsid, false, out _), "RMPUPDATE 4K private");
            if (!validate(Layout.Gpa(page), spa, false))
                throw new InvalidOperationException($"scenario bring-up: the guest could not validate 0x{Layout.Gpa(page):x}");
            if (!BindsGuestMemfd)
                Testbed.Check(Bed.Core.Map(Bed.TrustedDomain!, Layout.Gpa(page), spa, GuestLayout.Page4K, ReadWrite), "map 4K");
        }
        Layout.IoSplit[block] = true;
        Layout.RmpSplit[block] = true;
    }

    public virtual Errno BeforeShare(ulong gpa) => Errno.Ok;

    public virtual Errno SplitRmp(int block)
    {
        if (Layout.RmpSplit[block])
            return Errno.Ok;
        var err = Bed.Sev.Rmp.Psmash(Layout.Spa((ulong)block * GuestLayout.PagesPer2M), out _);
        if (err == Errno.Ok)
            Layout.RmpSplit[block] = true;
        return err;
    }

    public virtual Errno MakeShared(ulong page) => Bed.Sev.Rmp.RmpMakeShared(Layout.Spa(page), RmpPageLevel.Level4K, out _);

    public virtual Errno MakePrivate(ulong page) =>
        Bed.Sev.Rmp.RmpMakePrivate(Layout.Spa(page), Layout.Gpa(page), RmpPageLevel.Level4K, Testbed.GuestAsid, false, out _);

    public virtual Errno AfterPrivate(ulong gpa) => Errno.Ok;

    /// <summary>
    /// Splits whatever I/O page crosses the edges of the page at <paramref name="gpa"/> (iommupt Cut:
    /// hitless, each split flushed), so that it is a 4 KiB I/O page of its own; nothing when it already is.
    /// </summary>
    protected Errno CutAround(ulong gpa)
    {
        int block = GuestLayout.BlockOfPage(Layout.PageOf(gpa));
        var table = Bed.TrustedTable;
        var err = table.Cut(gpa);
        if (err == Errno.Ok)
            err = table.Cut(gpa + GuestLayout.Page4K);
        if (err == Errno.Ok)
            Layout.IoSplit[block] = true;
        return err;
    }

    /// <summary>
    /// The first half of swapping <paramref name="gpa"/>'s 2 MiB IOPTE for a table of 4 KiB ones: finds the
    /// 2 MiB leaf's slot (<paramref name="iopde"/>) and writes a fresh table page (<paramref name="ptes"/>)
    /// with the 512 leaves that translate as it did, through <paramref name="memory"/>; nothing links it
    /// yet. EINVAL when the trusted table has no 2 MiB leaf there, ENOMEM without a frame.
    /// </summary>
    protected Errno BuildSmallLeaves(IPhysicalMemory memory, ulong gpa, out ulong iopde, out ulong ptes)
    {
        ptes = 0;
        var table = Bed.TrustedTable;
        if (!IoPageWalk.TryLeafSlot(memory, table.TopPa, table.TopLevel, gpa, out iopde, out int level) || level != 1)
            return Errno.EINVAL;
        if (!Bed.KernelFrames.TryAlloc(out ptes))
            return Errno.ENOMEM;
        ulong leaf = memory.ReadU64(iopde);
        ulong oa = AmdV1Format.LeafOa(leaf, 1);
        ulong attrs = AmdV1Format.LeafAttrs(leaf) & ~AmdV1Format.HardwareBits;
        for (int i = 0; i < GuestLayout.PagesPer2M; i++)
            memory.WriteU64(ptes + ((ulong)i * sizeof(ulong)), AmdV1Format.MakeLeaf(oa + ((ulong)i * GuestLayout.Page4K), 12, 0, attrs));
        return Errno.Ok;
    }
}
