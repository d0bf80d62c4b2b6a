using Driver.Hw.Sev;
using Driver.Kernel;
using Driver.Kernel.IommuPt;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// ARM's way (seed 000): one owner keeps the IOMMU table identical to the guest's stage 2 and changes
/// both in one step. Modelled as secure firmware (a call of <see cref="SecureCallNs"/> that the VMM waits
/// for, as for an SMC into the owner rather than a PSP mailbox round trip) that, at one simulated instant, swaps the 2 MiB IOPDE for 512 4 KiB PTEs and
/// splits the RMP entry; removes the shared page's IOPTE as it makes its RMP entry hypervisor-owned; and
/// puts both back together on the return to private. No DMA can run between the two halves of a step,
/// so none fails and none waits. The owner is a model in the scenario, not a command of the simulated PSP.
/// </summary>
internal sealed class MirroredS2Strategy : ConversionStrategy
{
    /// <summary>One call into the owner: a world switch and the table edits, a few microseconds (an assumption, not a measurement).</summary>
    public const long SecureCallNs = 5_000;

    public override string Name => StrategyNames.MirroredS2;

    public override Errno BeforeShare(ulong gpa)
    {
        int block = GuestLayout.BlockOfPage(Layout.PageOf(gpa));
        if (Layout.IoSplit[block])
            return Errno.Ok;
        // One instant: the table, the IOPDE and the RMP entry change with no device event in between.
        var memory = Bed.Machine.Memory;
        var err = BuildSmallLeaves(memory, gpa, out ulong iopde, out ulong ptes);
        if (err != Errno.Ok)
            return err;
        memory.WriteU64(iopde, AmdV1Format.MakeTable(ptes, 1));
        Bed.Machine.Rmp.Split(Layout.Spa((ulong)block * GuestLayout.PagesPer2M) >> 12);
        Layout.IoSplit[block] = true;
        Layout.RmpSplit[block] = true;
        Counters.FirmwareSmashes++;
        return SecureCall();
    }

    public override Errno MakeShared(ulong page) => Mirror(page, shared: true);

    public override Errno MakePrivate(ulong page) => Mirror(page, shared: false);

    private Errno Mirror(ulong page, bool shared)
    {
        var table = Bed.TrustedTable;
        var memory = Bed.Machine.Memory;
        ulong gpa = Layout.Gpa(page);
        ulong spa = Layout.Spa(page);
        if (!Layout.RmpSplit[GuestLayout.BlockOfPage(page)])
            return Errno.EINVAL;
        // A shared page has no IOPTE; its empty slot is where the private one comes back.
        bool mapped = IoPageWalk.TryLeafSlot(memory, table.TopPa, table.TopLevel, gpa, out ulong slot, out int level);
        if (level != 0 || mapped != shared)
            return Errno.EINVAL;
        // One instant: the IOPTE and the RMP entry agree before any device event runs.
        memory.WriteU64(slot, shared ? 0 : AmdV1Format.MakeLeaf(spa, 12, 0, AmdV1Format.AttrsFromProt(ReadWrite)));
        var entry = shared ? default : default(RmpEntry).WithAssigned(true).WithAsid(Testbed.GuestAsid).WithGpa(gpa);
        Bed.Machine.Rmp.Write(spa >> 12, entry);
        Bed.Machine.Rmp.NotifyChanged(spa, spa + GuestLayout.Page4K - 1);
        Counters.FirmwareRmpWrites++;
        return SecureCall();
    }

    // The VMM waits for the owner as for any firmware call.
    private Errno SecureCall()
    {
        Bed.Machine.Clock.Delay(SecureCallNs);
        return Errno.Ok;
    }
}
