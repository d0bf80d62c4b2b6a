using Driver.Kernel;
using Driver.Scenarios.Engine;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// Alexey Kardashevskiy's proposal (seed 000): the host builds a table of 512 4 KiB PTEs with the 2 MiB
/// leaf's frames and permissions and hands it, with the address of the 2 MiB IOPDE, to one firmware
/// call (SevDevice.ProposedIopdeSmash). Firmware stalls DMA to the 2 MiB range, swaps the IOPDE for the
/// table and smashes the RMP entry together, then resumes: no DMA fails, DMA waits. guest_memfd's split
/// then finds the RMP already at 4 KiB; the share is a 4 KiB RMPUPDATE.
/// </summary>
internal sealed class FwSmashStrategy : ConversionStrategy
{
    public override string Name => StrategyNames.FwSmash;

    public override Errno BeforeShare(ulong gpa)
    {
        int block = GuestLayout.BlockOfPage(Layout.PageOf(gpa));
        if (Layout.IoSplit[block])
            return Errno.Ok;
        var err = BuildSmallLeaves(Bed.Machine.KernelMemory, gpa, out ulong iopde, out ulong ptes);
        if (err != Errno.Ok)
            return err;
        err = Bed.Sev.ProposedIopdeSmash(iopde, ptes, out _);
        if (err != Errno.Ok)
        {
            Bed.KernelFrames.Free(ptes);
            return err;
        }
        Layout.IoSplit[block] = true;
        Layout.RmpSplit[block] = true;
        Counters.FirmwareSmashes++;
        return Errno.Ok;
    }
}
